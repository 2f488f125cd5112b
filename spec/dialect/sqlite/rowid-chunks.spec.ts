import fs from 'node:fs';
import path from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import sqlite3 from 'sqlite3';
import { AccessBroker } from '../../../lib';
import { planRowidChunks, rowidChunkSource } from '../../../lib/dialect/sqlite/rowid-chunks';
import type { SqliteQuery } from '../../../lib/dialect/sqlite/sql-calls';
import { sqliteFile as fileOf } from '../../support/streams';
import { scratchDir, sqliteFile, uniqueName } from '../../support/targets';

/** A callback-style sqlite3 connection as the planner's `query`. */
function queryOn(db: sqlite3.Database): SqliteQuery {
  return (sql, parameters) =>
    new Promise((resolve, reject) =>
      db.all(sql, parameters, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))),
    );
}

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

// An ORDER BY that the rowid order does not give: a result column aliased to
// the ordering name (sqlite sorts by the alias), or an INTEGER PRIMARY KEY
// DESC (an ordinary column with an index, not the rowid). The data is
// inserted so that rowid order differs from each query's order: a stream
// read by rowid would give the rows in the wrong order.
describe('sqlite rowid chunks, when ORDER BY is not the rowid', () => {
  let broker: AccessBroker;
  let db: sqlite3.Database;
  let query: SqliteQuery;

  beforeAll(async () => {
    broker = new AccessBroker(sqliteFile.target());
    await broker.waitUntilRunning();
    for (const sql of [
      'CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INT)',
      "INSERT INTO t VALUES (3, 'c', 1), (1, 'z', 2), (2, 'a', 3), (10, 'b', 4), (5, 'y', 5)",
      'CREATE TABLE d (id INTEGER PRIMARY KEY DESC, name TEXT)',
      "INSERT INTO d VALUES (3, 'c'), (1, 'a'), (2, 'b'), (9, 'x'), (0, 'q')",
      // PRIMARY KEY DESC as a table constraint: a true rowid alias.
      'CREATE TABLE e (id INTEGER, name TEXT, PRIMARY KEY (id DESC))',
      "INSERT INTO e VALUES (3, 'c'), (1, 'a'), (2, 'b'), (9, 'x'), (0, 'q')",
    ]) {
      await lastValueFrom(broker.query(sql));
    }
    db = await new Promise<sqlite3.Database>((resolve, reject) => {
      const opened = new sqlite3.Database(fileOf(broker), sqlite3.OPEN_READONLY, (err) =>
        err ? reject(err) : resolve(opened),
      );
    });
    query = queryOn(db);
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => db.close(() => resolve()));
    await broker.shutdown();
  });

  /** What query() gives, what stream() gives, and what the planner makes of the SQL. */
  async function readBothWays(sql: string) {
    const expected = await lastValueFrom(broker.query<Record<string, unknown>>(sql));
    const streamed = await lastValueFrom(
      broker.stream<Record<string, unknown>>(sql, [], { batchSize: 2 }).pipe(toArray()),
    );
    await query('BEGIN', []);
    try {
      return { expected, streamed, plan: await planRowidChunks(query, sql, []) };
    } finally {
      await query('ROLLBACK', []);
    }
  }

  it.each([
    'SELECT * FROM d ORDER BY id',
    'SELECT id, name FROM d ORDER BY d.id',
    'SELECT name AS id, n FROM t ORDER BY id',
    'SELECT name id, n FROM t ORDER BY id',
    'SELECT n AS "id" FROM t ORDER BY id',
    "SELECT name AS 'id' FROM t ORDER BY id",
    'SELECT t.n AS ID FROM t ORDER BY "id"',
    'SELECT -id AS id FROM t ORDER BY id',
    'SELECT n, coalesce(name, n) id FROM t ORDER BY id',
    'SELECT name AS rowid, n FROM t ORDER BY rowid',
    'SELECT name AS [id] FROM t ORDER BY id',
  ])('refuses %s, and stream() gives the rows query() gives, in its order', async (sql) => {
    const { expected, streamed, plan } = await readBothWays(sql);
    expect(plan).toBeUndefined();
    expect(expected.length).toBe(5);
    expect(streamed).toEqual(expected);
  });

  it.each([
    'SELECT id, name FROM t ORDER BY id',
    'SELECT t.id, n AS other FROM t ORDER BY id',
    'SELECT name AS id FROM t ORDER BY t.id',
    'SELECT rowid, name FROM t ORDER BY rowid',
    'SELECT * FROM d ORDER BY rowid',
    'SELECT * FROM e ORDER BY id',
  ])('plans %s (its order is the rowid order), and stream() gives the rows query() gives', async (sql) => {
    const { expected, streamed, plan } = await readBothWays(sql);
    expect(plan).toBeDefined();
    expect(expected.length).toBe(5);
    expect(streamed).toEqual(expected);
  });
});
