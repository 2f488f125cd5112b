import fc from 'fast-check';
import sqlite3 from 'sqlite3';
import { keepingStatements, sendSqlite } from '../../../lib/dialect/sqlite/keeping-driver';
import {
  SqliteStatementCache,
  sendUnprepared,
  type SqliteCall,
  type StatementClass,
} from '../../../lib/dialect/sqlite/statement-cache';

const RUNS = Number(process.env.RUNS ?? 60);

/** One call of a program: its SQL, values and how it is run (as tx.query would run it). */
interface Op {
  readonly sql: string;
  readonly values: unknown[];
  readonly call: SqliteCall;
}

const value = fc.integer({ min: -5, max: 20 });
/** Statements on one table, some failing, some changing its shape, the ones never kept among them. */
const op: fc.Arbitrary<Op> = fc.oneof(
  value.map((v) => ({ sql: 'INSERT INTO t (v) VALUES (?)', values: [v], call: 'run' as const })),
  value.map((v) => ({ sql: 'INSERT INTO t (v) VALUES (?) RETURNING id', values: [v], call: 'run' as const })),
  value.map((v) => ({ sql: 'UPDATE t SET v = v + ? WHERE id % 2 = 0', values: [v], call: 'run' as const })),
  value.map((v) => ({ sql: 'DELETE FROM t WHERE v > ?', values: [v], call: 'run' as const })),
  value.map((v) => ({ sql: 'SELECT id, v FROM t WHERE v > ? ORDER BY id', values: [v], call: 'all' as const })),
  fc.constantFrom<Op>(
    { sql: 'SELECT count(*) AS n, sum(v) AS s FROM t', values: [], call: 'all' },
    { sql: 'SELECT * FROM t ORDER BY id LIMIT 3', values: [], call: 'all' },
    { sql: 'SELECT nope FROM t', values: [], call: 'all' },
    { sql: 'BEGIN TRANSACTION', values: [], call: 'all' },
    { sql: 'COMMIT', values: [], call: 'all' },
    { sql: 'ROLLBACK', values: [], call: 'all' },
    { sql: 'EXPLAIN SELECT * FROM t', values: [], call: 'all' },
    { sql: 'PRAGMA user_version', values: [], call: 'all' },
    { sql: 'ALTER TABLE t ADD COLUMN extra integer DEFAULT 1', values: [], call: 'all' },
    { sql: 'DROP TABLE t', values: [], call: 'all' },
    { sql: 'CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v integer)', values: [], call: 'all' },
  ),
);

function open(driver: typeof sqlite3): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db: sqlite3.Database = new driver.Database(':memory:', (err) => (err ? reject(err) : resolve(db)));
  });
}

const close = (db: sqlite3.Database) =>
  new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));

/** What a call answered: the rows (all), the last id and changes (run), or the error's message. */
type Outcome = { rows?: unknown[]; lastID?: number; changes?: number } | { error: string };

/** Makes every call at once, without waiting (as work that does not await does), and collects the answers in order. */
function runProgram(
  send: (op: Op, callback: (this: sqlite3.RunResult, err: Error | null, rows?: unknown[]) => void) => void,
  ops: readonly Op[],
): Promise<Outcome[]> {
  return Promise.all(
    ops.map(
      (o) =>
        new Promise<Outcome>((resolve) =>
          send(o, function (err, rows) {
            if (err) resolve({ error: err.message });
            else if (o.call === 'run') resolve({ lastID: this.lastID, changes: this.changes });
            else resolve({ rows });
          }),
        ),
    ),
  );
}

/**
 * Kept statements must answer as node-sqlite3's own db.run/db.all do, call
 * for call, in the order made: random programs, sent all at once on a
 * serialized connection that keeps statements (a small limit, so that
 * statements are given up and prepared again) and on one that does not.
 */
describe('statements kept prepared on sqlite answer as unprepared ones [sqlite-memory]', () => {
  it('gives the same answers, in the same order, for random programs sent without waiting', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 4 }),
        async (ops, limit) => {
          const [keeping, plain] = [await open(sqlite3), await open(sqlite3)];
          const cache = new SqliteStatementCache(keeping, sqlite3.Statement as unknown as StatementClass, limit);
          try {
            const setup: Op = { sql: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v integer)', values: [], call: 'all' };
            for (const db of [keeping, plain]) {
              db.serialize();
              await runProgram((o, cb) => sendUnprepared(db, o.sql, o.values, o.call, cb), [setup]);
            }
            // Twice: the second time, what repeats is kept.
            for (let pass = 0; pass < 2; pass++) {
              const kept = await runProgram((o, cb) => cache.send(o.sql, o.values, o.call, cb), ops);
              const fresh = await runProgram((o, cb) => sendUnprepared(plain, o.sql, o.values, o.call, cb), ops);
              expect(kept).toEqual(fresh);
            }
            expect(cache.size).toBeLessThanOrEqual(limit);
          } finally {
            cache.close();
            await Promise.all([close(keeping), close(plain)]);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('a connection that keeps statements [sqlite-memory]', () => {
  const LONG =
    'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';

  it('finalizes a statement it gives up only once nothing runs: the event loop goes on meanwhile', async () => {
    const db = await open(sqlite3);
    db.serialize();
    const cache = new SqliteStatementCache(db, sqlite3.Statement as unknown as StatementClass, 2);
    const send = (sql: string, values: unknown[]) =>
      new Promise<unknown[]>((resolve, reject) =>
        cache.send(sql, values, 'all', (err, rows) => (err ? reject(err) : resolve(rows!))),
      );
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    try {
      // Kept: A, then LONG (the least recently used first); B seen once.
      for (let i = 0; i < 2; i++) await send('SELECT ? AS a', [i]);
      for (let i = 0; i < 2; i++) await send(LONG, [3]);
      await send('SELECT ? AS b', [0]);
      let done = false;
      const long = send(LONG, [2_000_000]).then((rows) => ((done = true), rows));
      await tick(); // the long query runs, holding the connection's mutex
      // B's second sight: kept in place of A (idle), which is given up.
      const b = send('SELECT ? AS b', [1]);
      await tick();
      // Had A been finalized at once, that would have waited for the long query (the mutex), and it would be done.
      expect(done).toBe(false);
      expect(await Promise.all([long, b])).toEqual([[{ n: 2_000_000 }], [{ b: 1 }]]);
      expect(cache.size).toBe(2);
      expect(await send('SELECT ? AS a', [7])).toEqual([{ a: 7 }]);
    } finally {
      cache.close();
      await close(db);
    }
  });

  it('closes while a kept statement runs: the statement gives its rows, then the connection closes', async () => {
    const db = await open(keepingStatements(sqlite3));
    const sql =
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) SELECT count(*) AS n FROM c';
    const query = (n: number) =>
      new Promise<unknown[]>((resolve, reject) =>
        sendSqlite(db, sql, [n], 'all', (err, rows) => (err ? reject(err) : resolve(rows!))),
      );
    for (let i = 0; i < 2; i++) expect(await query(3)).toEqual([{ n: 3 }]);
    const long = query(300_000);
    await expect(Promise.all([long, close(db)])).resolves.toEqual([[{ n: 300_000 }], undefined]);
  });
});
