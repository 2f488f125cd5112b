import sqlite3 from 'sqlite3';
import { resolveTarget } from '../../lib';
import { type OpenSubject, type Subject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { serializer } from './serialize';

/**
 * node-sqlite3 alone: one connection with the pragmas TypeORM sets for
 * sasync's file targets (WAL, busy timeout, foreign keys) and the workload's
 * `synchronous`, BEGIN / run / get / COMMIT, transactions serialized on a
 * promise chain (one connection). As node-sqlite3 is mostly used: db.run()
 * and db.get() prepare, run and finalize the SQL every time. With
 * `prepared` (the rawPrepared subject), each SQL is prepared once and its
 * Statement kept, as sasync's connections do by themselves: one trip through
 * libuv's thread pool per statement instead of two.
 */
export const openRawSqlite: OpenSubject = (where) => open(where, false);

/** node-sqlite3 alone with its Statements kept (see {@link openRawSqlite}). */
export const openRawSqlitePrepared: OpenSubject = (where) => open(where, true);

async function open({ target, workload: w, table }: Parameters<OpenSubject>[0], prepared: boolean): Promise<Subject> {
  const file = (resolveTarget(target).options as { database: string }).database;
  const db = await connect(file);
  const kept = new Map<string, sqlite3.Statement>();
  // Only the transaction's statements: a kept PRAGMA run() would stop at its row, still in progress.
  const on = (sql: string, keep: boolean): sqlite3.Database | sqlite3.Statement => {
    if (!keep) return db;
    let statement = kept.get(sql);
    if (!statement) kept.set(sql, (statement = db.prepare(sql)));
    return statement;
  };
  const run = (sql: string, params: unknown[] = [], keep = false) =>
    new Promise<number>((resolve, reject) => {
      const callback = function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve(this.lastID);
      };
      const target = on(sql, keep);
      if (target instanceof sqlite3.Statement) target.run(params, callback);
      else target.run(sql, params, callback);
    });
  const get = <T>(sql: string, params: unknown[], keep: boolean) =>
    new Promise<T | undefined>((resolve, reject) => {
      const target = on(sql, keep);
      // A kept Statement's get() would stop after one row, leaving it open (reading): all() runs it to its end.
      if (target instanceof sqlite3.Statement)
        target.all<T>(params, (err, rows) => (err ? reject(err) : resolve(rows[0])));
      else target.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row)));
    });
  for (const pragma of ['journal_mode = WAL', 'busy_timeout = 5000', 'foreign_keys = ON'])
    await run(`PRAGMA ${pragma}`);
  for (const sql of w.setup) await run(sql);
  await run(w.createTable(table));
  const insert = w.insert(table);
  const select = w.select(table);
  const exclusive = serializer();
  const transaction = async (i: number) => {
    await run('BEGIN TRANSACTION', [], prepared);
    try {
      const id = await run(insert, insertParams(i), prepared);
      const row = await get<{ n: number }>(select, [id], prepared);
      await run('COMMIT', [], prepared);
      return row;
    } catch (err) {
      await run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  };
  return {
    name: prepared ? 'rawPrepared' : 'raw',
    run: (i) => exclusive(() => transaction(i)),
    close: dropThenClose(
      () => run(w.dropTable(table)),
      async () => {
        // node-sqlite3 cannot close a connection with Statements not finalized.
        await Promise.all([...kept.values()].map((s) => new Promise<void>((resolve) => s.finalize(() => resolve()))));
        await new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve())));
      },
    ),
  };
}

function connect(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
  });
}
