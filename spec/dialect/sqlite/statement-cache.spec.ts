import { lastValueFrom } from 'rxjs';
import sqlite3 from 'sqlite3';
import type { EntityManager } from 'typeorm';
import { AccessBroker, TimeoutError, TransactionError } from '../../../lib';
import { SQLITE_STATEMENT_LIMIT } from '../../../lib/dialect/sqlite/statement-cache';
import { keptStatements } from '../../../lib/dialect/sqlite/keeping-driver';
import { sqliteConnection } from '../../../lib/dialect/typeorm/sqlite-driver';
import { sqliteFile, sqliteMemory, uniqueName, type TestTarget } from '../../support/targets';

/**
 * sasync's sqlite connections keep SQL they run a second time prepared
 * (lib/dialect/sqlite/statement-cache.ts): a kept statement must answer as
 * a fresh one would, keep its place among the connection's calls, follow
 * schema changes, and let the connection close.
 */
describe.each([sqliteMemory, sqliteFile])('statements kept prepared on sqlite [$name]', (t: TestTarget) => {
  let broker: AccessBroker;
  let table: string;
  const kept = () => keptStatements(sqliteConnection(broker.dataSource)!);
  const tx = <T>(work: (m: EntityManager) => Promise<T>) => lastValueFrom(broker.transact(work));

  beforeEach(async () => {
    broker = new AccessBroker(t.target());
    await broker.waitUntilRunning();
    table = uniqueName('kept');
    await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v text NOT NULL)`));
  });

  afterEach(async () => {
    await broker.shutdown();
  });

  it('keeps SQL from its second run on, with the same results as its first', async () => {
    const before = kept();
    const rounds: unknown[][] = [];
    for (let round = 0; round < 4; round++) {
      rounds.push(
        await tx(async (m) => [
          await m.query(`INSERT INTO ${table} (v) VALUES (?)`, [`v${round}`]),
          await m.query(`SELECT id, v FROM ${table} WHERE v = ?`, [`v${round}`]),
          await m.query(`UPDATE ${table} SET v = v || ? WHERE v = ?`, ['!', `v${round}`]),
          await m.query(`SELECT count(*) AS n FROM ${table}`),
          await m.query(`DELETE FROM ${table} WHERE v = ?`, ['nothing']),
        ]),
      );
      // First run: nothing new kept; second: the five statements, BEGIN and COMMIT.
      if (round === 0) expect(kept()).toBe(before);
      if (round === 1) expect(kept()).toBe(before + 7);
    }
    expect(rounds).toEqual(
      [0, 1, 2, 3].map((round) => [
        round + 1,
        [{ id: round + 1, v: `v${round}` }],
        undefined,
        [{ n: round + 1 }],
        undefined,
      ]),
    );
    expect(kept()).toBe(before + 7);
  });

  it('keeps the order of calls made without awaiting, kept and new statements mixed', async () => {
    const count = `SELECT count(*) AS n FROM ${table}`;
    const insert = `INSERT INTO ${table} (v) VALUES (?)`;
    for (let i = 0; i < 2; i++) await tx(async (m) => [await m.query(count), await m.query(insert, ['warm'])]);
    const seen = await tx(async (m) => {
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 20; i++) {
        // Each a new statement (first sight, prepared on the way) between kept ones.
        calls.push(m.query(`INSERT INTO ${table} (v) VALUES (?) /* ${i} */`, [`new ${i}`]));
        calls.push(m.query(count));
        calls.push(m.query(insert, [`kept ${i}`]));
        calls.push(m.query(`SELECT count(*) AS n FROM ${table} /* ${i} */`));
      }
      return Promise.all(calls);
    });
    const counts = seen.filter((_, i) => i % 2 === 1).map((rows) => (rows as { n: number }[])[0]!.n);
    // 2 warm rows, then each insert is counted by the next count, in the order made.
    expect(counts).toEqual(Array.from({ length: 40 }, (_, i) => 3 + i));
  });

  it("keeps a prepare()d statement's place after a statement made before it", async () => {
    const byValue = broker.prepare<{ n: number }>('by_value', `SELECT count(*) AS n FROM ${table} WHERE v = ?`);
    await lastValueFrom(byValue.query(['x']));
    const counts = await tx(async (m) => {
      const insert = m.query(`INSERT INTO ${table} (v) VALUES (?) /* ${uniqueName('fresh')} */`, ['x']);
      const counted = lastValueFrom(byValue.query(['x']));
      await insert;
      return (await counted)[0]!.n;
    });
    expect(counts).toBe(1);
  });

  it("keeps a prepare()d statement's place before a statement made after it", async () => {
    const byValue = broker.prepare<{ n: number }>('by_value_first', `SELECT count(*) AS n FROM ${table} WHERE v = ?`);
    await lastValueFrom(byValue.query(['y']));
    const counts = await tx(async (m) => {
      const counted = lastValueFrom(byValue.query(['y']));
      const insert = m.query(`INSERT INTO ${table} (v) VALUES (?) /* ${uniqueName('fresh')} */`, ['y']);
      await insert;
      return (await counted)[0]!.n;
    });
    expect(counts).toBe(0);
  });

  it('gives up a kept statement that fails, and keeps it again when it repeats', async () => {
    const insert = `INSERT INTO ${table} (id, v) VALUES (?, ?)`;
    for (let id = 1; id <= 2; id++) await tx((m) => m.query(insert, [id, 'a']));
    const before = kept();
    const error = await tx((m) => m.query(insert, [1, 'again'])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).message).toMatch(/UNIQUE constraint failed/);
    expect(kept()).toBe(before - 1);
    for (let id = 3; id <= 4; id++) await tx((m) => m.query(insert, [id, 'b']));
    expect(kept()).toBe(before);
    expect(await lastValueFrom(broker.query(`SELECT count(*) AS n FROM ${table}`))).toEqual([{ n: 4 }]);
  });

  it('keeps no INSERT, UPDATE or DELETE once count_changes makes them return a row', async () => {
    await lastValueFrom(broker.query('PRAGMA count_changes = 1'));
    for (let i = 0; i < 3; i++) {
      await tx(async (m) => {
        await m.query(`INSERT INTO ${table} (v) VALUES (?)`, [`c${i}`]);
        await m.query(`UPDATE ${table} SET v = v || ? WHERE v = ?`, ['!', `c${i}`]);
      });
    }
    // A run() left at its row would hold the table: DROP TABLE fails with SQLITE_LOCKED then.
    await lastValueFrom(broker.query(`DROP TABLE ${table}`));
    await lastValueFrom(broker.query('PRAGMA count_changes = 0'));
    await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v text NOT NULL)`));
  });

  it('follows schema changes: a new column, a table dropped and made again', async () => {
    const select = `SELECT * FROM ${table} WHERE id = ?`;
    await lastValueFrom(broker.query(`INSERT INTO ${table} (v) VALUES ('a')`));
    for (let i = 0; i < 2; i++) expect(await lastValueFrom(broker.query(select, [1]))).toEqual([{ id: 1, v: 'a' }]);
    await lastValueFrom(broker.query(`ALTER TABLE ${table} ADD COLUMN extra integer DEFAULT 7`));
    expect(await lastValueFrom(broker.query(select, [1]))).toEqual([{ id: 1, v: 'a', extra: 7 }]);
    await lastValueFrom(broker.query(`DROP TABLE ${table}`));
    const error = await lastValueFrom(broker.query(select, [1])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).message).toMatch(/no such table/);
    await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, w text)`));
    await lastValueFrom(broker.query(`INSERT INTO ${table} (w) VALUES ('b')`));
    expect(await lastValueFrom(broker.query(select, [1]))).toEqual([{ id: 1, w: 'b' }]);
  });

  it('reports a statement that does not prepare each time it is run, keeping nothing for it', async () => {
    const before = kept();
    for (let i = 0; i < 3; i++) {
      const error = await lastValueFrom(broker.query(`SELECT nope FROM ${table} WHERE id = ?`, [i])).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransactionError);
      expect((error as Error).message).toMatch(/no such column: nope/);
    }
    expect(kept()).toBe(before);
    expect(await lastValueFrom(broker.query(`SELECT count(*) AS n FROM ${table}`))).toEqual([{ n: 0 }]);
  });

  it('runs SQL without values that may name a parameter unprepared: nothing stale is bound', async () => {
    const before = kept();
    for (let i = 0; i < 3; i++) {
      expect(await lastValueFrom(broker.query("SELECT '?' AS q, ':a' AS a, '@b' AS b, '$c' AS c"))).toEqual([
        { q: '?', a: ':a', b: '@b', c: '$c' },
      ]);
    }
    expect(kept()).toBe(before);
  });

  it('runs PRAGMAs afresh each time: read-only and writing transactions alternate', async () => {
    for (let i = 0; i < 3; i++) {
      const refused = await lastValueFrom(
        broker.transact((m) => m.query(`INSERT INTO ${table} (v) VALUES (?)`, ['ro']), { readOnly: true }),
      ).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(Error);
      await tx((m) => m.query(`INSERT INTO ${table} (v) VALUES (?)`, [`rw ${i}`]));
    }
    expect(await lastValueFrom(broker.query(`SELECT v FROM ${table} ORDER BY id`))).toEqual([
      { v: 'rw 0' },
      { v: 'rw 1' },
      { v: 'rw 2' },
    ]);
  });

  it('never keeps EXPLAIN, whose kept statement would lock tables against DROP TABLE', async () => {
    for (const sql of [`EXPLAIN SELECT * FROM ${table}`, `/* plan */ EXPLAIN QUERY PLAN SELECT * FROM ${table}`]) {
      for (let i = 0; i < 3; i++) expect((await lastValueFrom(broker.query(sql))).length).toBeGreaterThan(0);
    }
    await lastValueFrom(broker.query(`DROP TABLE ${table}`));
    await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v text NOT NULL)`));
  });

  it('keeps at most its limit, the least recently used finalized, and still closes', async () => {
    const distinct = SQLITE_STATEMENT_LIMIT + 50;
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < distinct; i++) {
        expect(await lastValueFrom(broker.query(`SELECT ? + ${i} AS v`, [round]))).toEqual([{ v: round + i }]);
      }
    }
    expect(kept()).toBe(SQLITE_STATEMENT_LIMIT);
    // The first ones were given up: run again, they answer all the same.
    expect(await lastValueFrom(broker.query('SELECT ? + 0 AS v', [9]))).toEqual([{ v: 9 }]);
    await broker.shutdown(); // node-sqlite3 refuses to close with statements left: this would throw
    expect(kept()).toBe(0);
  });

  it('stops a kept statement on timeout, and runs it again afterwards', async () => {
    const sql =
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';
    for (let i = 0; i < 2; i++) expect(await lastValueFrom(broker.query(sql, [10]))).toEqual([{ n: 10 }]);
    const error = await lastValueFrom(broker.query(sql, [1e12], { timeout: 50 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(await lastValueFrom(broker.query(sql, [3]))).toEqual([{ n: 3 }]);
  });
});

describe('statements kept prepared on sqlite [sqlite-file]', () => {
  it("follows another connection's schema change (another process's, say)", async () => {
    const broker = new AccessBroker(sqliteFile.target());
    const file = (broker.dataSource.options as { database: string }).database;
    const other = new sqlite3.Database(file);
    const exec = (sql: string) =>
      new Promise<void>((resolve, reject) => other.exec(sql, (err) => (err ? reject(err) : resolve())));
    try {
      await broker.waitUntilRunning();
      const table = uniqueName('other');
      await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v text)`));
      await lastValueFrom(broker.query(`INSERT INTO ${table} (v) VALUES ('a')`));
      const select = `SELECT * FROM ${table} WHERE id = ?`;
      for (let i = 0; i < 3; i++) expect(await lastValueFrom(broker.query(select, [1]))).toEqual([{ id: 1, v: 'a' }]);
      await exec(`PRAGMA busy_timeout = 5000; ALTER TABLE ${table} ADD COLUMN w integer DEFAULT 2`);
      expect(await lastValueFrom(broker.query(select, [1]))).toEqual([{ id: 1, v: 'a', w: 2 }]);
      await exec(`DROP TABLE ${table}`);
      const error = await lastValueFrom(broker.query(select, [1])).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(/no such table/);
    } finally {
      await new Promise((resolve) => other.close(resolve));
      await broker.shutdown();
    }
  });

  it('holds no lock after INSERT … RETURNING, which is never kept for run()', async () => {
    const broker = new AccessBroker(sqliteFile.target());
    const file = (broker.dataSource.options as { database: string }).database;
    const other = new sqlite3.Database(file);
    try {
      await broker.waitUntilRunning();
      const table = uniqueName('returning');
      await lastValueFrom(broker.query(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, v text)`));
      for (let i = 0; i < 3; i++) {
        await lastValueFrom(
          broker.transact((m) => m.query(`INSERT INTO ${table} (v) VALUES (?) RETURNING id`, [`r${i}`])),
        );
      }
      // Without waiting (no busy timeout): a write lock still held would fail this at once with SQLITE_BUSY.
      const exec = (sql: string) =>
        new Promise<void>((resolve, reject) => other.exec(sql, (err) => (err ? reject(err) : resolve())));
      await exec(`BEGIN IMMEDIATE; INSERT INTO ${table} (v) VALUES ('other'); COMMIT`);
      expect(await lastValueFrom(broker.query(`SELECT count(*) AS n FROM ${table}`))).toEqual([{ n: 4 }]);
    } finally {
      await new Promise((resolve) => other.close(resolve));
      await broker.shutdown();
    }
  });
});
