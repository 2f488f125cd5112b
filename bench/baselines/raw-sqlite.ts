import sqlite3 from 'sqlite3';
import { resolveTarget } from '../../lib';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { serializer } from './serialize';

/**
 * node-sqlite3 alone: one connection with the pragmas TypeORM sets for
 * sasync's file targets (WAL, busy timeout, foreign keys), BEGIN / run / get /
 * COMMIT, transactions serialized on a promise chain (one connection).
 */
export const openRawSqlite: OpenSubject = async ({ target, workload: w, table }) => {
  const file = (resolveTarget(target).options as { database: string }).database;
  const db = await open(file);
  const run = (sql: string, params: unknown[] = []) =>
    new Promise<number>((resolve, reject) =>
      db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
        if (err) reject(err);
        else resolve(this.lastID);
      }),
    );
  const get = <T>(sql: string, params: unknown[]) =>
    new Promise<T | undefined>((resolve, reject) =>
      db.get<T>(sql, params, (err, row) => (err ? reject(err) : resolve(row))),
    );
  for (const pragma of ['journal_mode = WAL', 'busy_timeout = 5000', 'foreign_keys = ON'])
    await run(`PRAGMA ${pragma}`);
  await run(w.createTable(table));
  const insert = w.insert(table);
  const select = w.select(table);
  const exclusive = serializer();
  const transaction = async (i: number) => {
    await run('BEGIN TRANSACTION');
    try {
      const id = await run(insert, insertParams(i));
      const row = await get<{ n: number }>(select, [id]);
      await run('COMMIT');
      return row;
    } catch (err) {
      await run('ROLLBACK').catch(() => undefined);
      throw err;
    }
  };
  return {
    name: 'raw',
    run: (i) => exclusive(() => transaction(i)),
    close: dropThenClose(
      () => run(w.dropTable(table)),
      () => new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve()))),
    ),
  };
};

function open(file: string): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(db)));
  });
}
