import type { QueryRunner } from 'typeorm';
import { setTransactionState } from '../typeorm/sqlite-driver';

/**
 * Runs table and index creation in a transaction that starts with BEGIN
 * IMMEDIATE: it takes the write lock before it reads the catalog, waiting for
 * another connection's DDL through the busy timeout. TypeORM's deferred BEGIN
 * would let two processes both read "missing"; the second one's upgrade to a
 * writer then fails with SQLITE_BUSY at once, without waiting. Joined to an
 * outer transaction (which holds the only connection), it runs there. A
 * failure is left to the caller, which rolls back.
 */
export async function sqliteDdlTransaction<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  if (runner.isTransactionActive) return work();
  await runner.query('BEGIN IMMEDIATE');
  // TypeORM's own bookkeeping, as its startTransaction() would leave it, so
  // that its commitTransaction() and rollbackTransaction() end this one.
  setTransactionState(runner, true);
  const result = await work();
  await runner.commitTransaction();
  return result;
}

/** Index names on a table, from sqlite_master. */
export async function sqliteIndexNames(runner: QueryRunner, table: string): Promise<string[]> {
  const rows: { name: string }[] = await runner.query(
    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
    [table],
  );
  return rows.map((r) => r.name);
}
