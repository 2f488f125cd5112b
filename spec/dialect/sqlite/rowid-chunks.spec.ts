import fs from 'node:fs';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { planRowidChunks, rowidChunkSource } from '../../../lib/dialect/sqlite/rowid-chunks';
import type { SqliteQuery } from '../../../lib/dialect/sqlite/sql-calls';
import { scratchDir, uniqueName } from '../../support/targets';

// Which queries a sqlite stream without `key` reads by rowid chunks (its first
// row at once) rather than after copying the whole result: only a plain walk
// of one rowid table. Every other query must be refused (copied), and a
// planned query must give exactly the rows the query gives.
describe('sqlite rowid chunks for streams without a key', () => {
  let db: sqlite3.Database;
  let file: string;
  const query: SqliteQuery = (sql, parameters) =>
    new Promise((resolve, reject) =>
      db.all(sql, parameters, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))),
    );

  beforeAll(async () => {
    file = path.join(scratchDir(), `${uniqueName('rowid')}.db`);
    db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const opened = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(opened)));
    });
    for (const sql of [
      'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INT)',
      'CREATE INDEX t_name ON t (name)',
      `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 40)
       INSERT INTO t SELECT x * 3, CASE WHEN x % 4 = 0 THEN 'a FROM b, c' ELSE 'n' || x END, x % 5 FROM g`,
      'CREATE TABLE w (k TEXT PRIMARY KEY, v INT) WITHOUT ROWID',
      'CREATE VIEW v AS SELECT * FROM t',
      'CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)',
      "INSERT INTO big VALUES (9007199254740993, 'past 2^53')",
      'CREATE TABLE s (code TEXT PRIMARY KEY, v INT)',
      "INSERT INTO s VALUES ('b', 1), ('a', 2), ('c', 3)",
    ]) {
      await query(sql, []);
    }
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => db.close(() => resolve()));
    fs.rmSync(file, { force: true });
  });

  it.each([
    ['SELECT * FROM t', []],
    ['SELECT id, name FROM t WHERE n > ? ORDER BY id', [1]],
    ['SELECT x.name, x.n FROM "t" AS x WHERE x.name <> \'n7\' AND x.n IN (0, 1, 2) ORDER BY x.rowid ASC;', []],
    ["select name from t where coalesce(n, 0) >= 0 and name like 'a FROM%'", []],
    ['SELECT n, name AS label FROM t t2 WHERE t2.n = ?', [3]],
    ['SELECT * FROM s', []],
  ])('plans %s and reads exactly its rows, in chunks', async (sql, parameters) => {
    const plan = await planRowidChunks(query, sql, parameters);
    expect(plan).toBeDefined();
    const source = rowidChunkSource<Record<string, unknown>>(query, plan!, parameters, async () => undefined);
    const rows: Record<string, unknown>[] = [];
    for (let chunk = await source.read(4); chunk.length > 0; chunk = await source.read(4)) rows.push(...chunk);
    await source.close();
    const expected = await query(sql.replace(/;$/, ''), parameters);
    expect(expected.length).toBeGreaterThan(0);
    expect(rows).toEqual(expected);
    expect(Object.keys(rows[0]!)).toEqual(Object.keys(expected[0]!));
  });

  it.each([
    'SELECT count(*) FROM t',
    'SELECT max(n) FROM t',
    'SELECT * FROM t ORDER BY name',
    'SELECT * FROM t ORDER BY id DESC',
    'SELECT * FROM t LIMIT 5',
    'SELECT DISTINCT name FROM t',
    'SELECT * FROM t JOIN t AS u USING (id)',
    'SELECT * FROM t, t AS u',
    'SELECT * FROM w',
    'SELECT * FROM v',
    'SELECT * FROM big',
    'SELECT * FROM nowhere',
    'SELECT (SELECT 1 FROM t) AS one FROM t',
    'SELECT * FROM t WHERE id IN (SELECT id FROM t)',
    'SELECT * FROM t WHERE n = :n',
    'SELECT * FROM t WHERE n = ?1',
    'SELECT * FROM t -- all of it',
    "SELECT * FROM t WHERE name = 'x'; DELETE FROM t",
    'WITH c AS (SELECT * FROM t) SELECT * FROM c',
    'SELECT n, count(*) FROM t GROUP BY n',
    'SELECT * FROM t WHERE name >',
  ])('refuses %s (the stream copies it first)', async (sql) => {
    expect(await planRowidChunks(query, sql, [])).toBeUndefined();
  });
});
