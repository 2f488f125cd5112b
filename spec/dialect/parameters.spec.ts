import { InvalidParameterError, json, SasyncError } from '../../lib';
import { postgresPlaceholderCount } from '../../lib/dialect/postgres/placeholders';
import { bindPostgres } from '../../lib/dialect/postgres/bind';
import { sqlitePlaceholderCount } from '../../lib/dialect/sqlite/placeholders';
import { bindSqlite } from '../../lib/dialect/sqlite/bind';

describe('InvalidParameterError', () => {
  it('names the parameter, says what is wrong and what to do, and keeps the SQL', () => {
    const e = new InvalidParameterError(3, 'is a Map', { sql: 'SELECT ?', hint: 'pass a string' });
    expect(e).toBeInstanceOf(SasyncError);
    expect(e).toBeInstanceOf(InvalidParameterError);
    expect(e.name).toBe('InvalidParameterError');
    expect(e.message).toBe('parameter 3 is a Map: pass a string');
    expect([e.position, e.reason, e.sql]).toEqual([3, 'is a Map', 'SELECT ?']);
  });
});

describe('sqlite placeholder count', () => {
  it.each([
    ['SELECT 1', 0],
    ['SELECT ?, ?', 2],
    ['SELECT ?3, ?', 4],
    ['SELECT ?2, ?1', 2],
    ['SELECT :a, :a, @b, $c', 3],
    ['SELECT :a, ?, :a', 2],
    ["SELECT '?', 'it''s ?', ?", 1],
    ['SELECT "?", `?`, [?], ?', 1],
    ['SELECT ? -- ?\n, ? /* ? :a */', 2],
    ['SELECT ?; SELECT ?, ?', 1],
    ['SELECT :', 0],
    ["SELECT x'3f', ?", 1],
    ['SELECT :naïve, :naïve', 1],
    ['SELECT ? /* unterminated ?', 1],
  ])('%j has %d', (sql, n) => expect(sqlitePlaceholderCount(sql)).toBe(n));
});

describe('postgres placeholder count', () => {
  it.each([
    ['SELECT 1', 0],
    ['SELECT $1, $2', 2],
    ['SELECT $2, $1, $2', 2],
    ['SELECT $3', 3],
    ["SELECT '$1', 'it''s $2', $1", 1],
    ["SELECT E'\\'$2', $1", 1],
    ["SELECT e'a\\\\', $1", 1],
    ['SELECT "$1", "a""$2", $1', 1],
    ['SELECT $$ $2 $$, $tag$ $3 $$ $tag$, $1', 1],
    ['SELECT a$1, $1', 1],
    ['SELECT $1 -- $2\n, /* $3 /* nested $4 */ $5 */ $2', 2],
    ["SELECT data ? 'k', data ?| array['a'], $1", 1],
    ['SELECT $1::int, $2::text[]', 2],
    ['CREATE FUNCTION f() RETURNS int AS $body$ SELECT $1 $body$ LANGUAGE sql', 0],
  ])('%j has %d', (sql, n) => expect(postgresPlaceholderCount(sql)).toBe(n));
});

describe('binding', () => {
  it('returns the same array when nothing changes', () => {
    const values = ['a', 1, true, null, Buffer.from([1])];
    expect(bindSqlite(values, 'SELECT ?, ?, ?, ?, ?')).toBe(values);
    expect(bindPostgres(values, 'SELECT $1, $2, $3, $4, $5')).toBe(values);
  });

  it('converts what the drivers would get wrong, and only that', () => {
    const date = new Date('2026-11-21T01:02:03.004Z');
    const bytes = new Uint8Array([1, 2]);
    expect(bindSqlite([5n, 2n ** 60n, date, json({ a: 1 }), undefined, bytes], 'SELECT ?, ?, ?, ?, ?, ?')).toEqual([
      5,
      '1152921504606846976',
      '2026-11-21 01:02:03.004',
      '{"a":1}',
      null,
      Buffer.from([1, 2]),
    ]);
    expect(bindPostgres([5n, -0, date, json([1]), undefined], 'SELECT $1, $2, $3, $4, $5')).toEqual([
      5n,
      '-0',
      date,
      '[1]',
      null,
    ]);
  });

  it('names the first bad position, 1-based', () => {
    const error = (() => {
      try {
        bindSqlite(['ok', 1, { a: 1 }, new Map()], 'SELECT ?, ?, ?, ?');
      } catch (e) {
        return e as InvalidParameterError;
      }
    })();
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect(error!.position).toBe(3);
    expect(error!.message).toMatch(/^parameter 3 is a plain object.*wrap it with json\(value\)/);
    expect(error!.sql).toBe('SELECT ?, ?, ?, ?');
  });
});
