import { lastValueFrom, toArray } from 'rxjs';
import { InvalidIdentifierError } from '../../../lib';
import { withItems } from '../../support/brokers';
import { sqliteFile, sqliteMemory } from '../../support/targets';

describe.each([sqliteMemory, sqliteFile])('sqlite streams without a key [$name]', (t) => {
  it('reads every row in order when the result has a column named rowid or oid', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 30 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const aliased = await lastValueFrom(
        b
          .stream<{ rowid: number }>(
            `SELECT id + 1000 AS rowid, name AS oid FROM ${b.itemsTable} ORDER BY id DESC`,
            [],
            {
              batchSize: 7,
            },
          )
          .pipe(toArray()),
      );
      expect(aliased.map((r) => r.rowid)).toEqual(Array.from({ length: 30 }, (_, i) => 1030 - i));
    }));

  it('refuses, clearly, a result that takes every name of the rowid', () =>
    withItems(t, async (b) => {
      const error = await lastValueFrom(b.stream('SELECT 1 AS rowid, 2 AS oid, 3 AS _rowid_')).catch((e: unknown) => e);
      expect((error as Error).cause ?? error).toBeInstanceOf(InvalidIdentifierError);
      expect((error as Error).message).toMatch(/rowid/);
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));

  it('reads consistently across chunks with a key, and with a trailing semicolon in the SQL', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `k${i}`,
          Array.from({ length: 11 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const keyed = await lastValueFrom(
        b.stream<{ id: number }>(`SELECT id FROM ${b.itemsTable};`, [], { key: 'id', batchSize: 3 }).pipe(toArray()),
      );
      expect(keyed.map((r) => r.id)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    }));
});

describe.each([sqliteMemory, sqliteFile])('sqlite keyset streams check keys in sqlite order [$name]', (t) => {
  // sqlite orders text by its UTF-8 bytes, where U+FF5E (EF BD 9E) comes
  // before an emoji (F0 9F 98 80); JavaScript's UTF-16 order has them the
  // other way round (the emoji is a surrogate pair, D83D DE00 < FF5E).
  it('reads by a text key the way sqlite orders it, emoji after U+FF5E', () =>
    withItems(t, async (b) => {
      const names = ['a', 'a\uFF5E', 'a\u{1F600}', 'b\uFF5E', 'b\u{1F600}', 'b\u{1F600}x', 'c'];
      for (const name of [...names].reverse()) await lastValueFrom(b.query(b.insertSql(), [name]));
      const rows = await lastValueFrom(
        b
          .stream<{ name: string }>(`SELECT name FROM ${b.itemsTable}`, [], { key: 'name', batchSize: 2 })
          .pipe(toArray()),
      );
      expect(rows.map((r) => r.name)).toEqual(names);
    }));

  it('reads by a key of mixed types in sqlite order: numbers, then text, then blobs', () =>
    withItems(t, async (b) => {
      const table = `${b.itemsTable}_mixed`;
      await lastValueFrom(b.query(`CREATE TABLE ${table} (k UNIQUE)`));
      const keys: unknown[] = [
        -1,
        2,
        2.5,
        3,
        '10',
        'a\uFF5E',
        'a\u{1F600}',
        Buffer.from([0]),
        Buffer.from([0, 1]),
        Buffer.from([1]),
      ];
      for (const k of [...keys].reverse()) await lastValueFrom(b.query(`INSERT INTO ${table} (k) VALUES (?)`, [k]));
      const rows = await lastValueFrom(
        b.stream<{ k: unknown }>(`SELECT k FROM ${table}`, [], { key: 'k', batchSize: 3 }).pipe(toArray()),
      );
      expect(rows.map((r) => r.k)).toEqual(keys);
      await lastValueFrom(b.query(`DROP TABLE ${table}`));
    }));

  it('still refuses a key whose values repeat or decrease', () =>
    withItems(t, async (b) => {
      for (const name of ['x', 'y']) await lastValueFrom(b.query(b.insertSql(), [name]));
      const repeated = `SELECT name FROM ${b.itemsTable} UNION ALL SELECT name FROM ${b.itemsTable}`;
      const error = await lastValueFrom(b.stream(repeated, [], { key: 'name', batchSize: 1 })).catch((e: unknown) => e);
      expect((error as Error).cause ?? error).toBeInstanceOf(InvalidIdentifierError);
      expect((error as Error).message).toMatch(/unique|repeat/);
    }));
});
