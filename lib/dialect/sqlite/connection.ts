import type { DataSource, QueryRunner } from 'typeorm';
import { sqliteSharedRunner } from '../typeorm/adopted';
import { unhookQuery } from '../typeorm/query-hook';
import { setTransactionState, sqliteConnection } from '../typeorm/sqlite-driver';
import { watchTypeormValues } from '../typeorm/sqlite-values';
import { recordIdentity } from './file-identity';
import { isMemory } from './options';

/**
 * Overlapping calls on one node-sqlite3 connection may execute out of
 * order (a ROLLBACK overtaking an INSERT sent before it, which then commits
 * on its own); in serialized mode they run in the order they were made.
 * A file database's identity is recorded as it opens, for verifyWritable.
 * Taken back (for a DataSource sasync did not make): node-sqlite3's default
 * parallel mode again, TypeORM's value handling and its shared runner's
 * query() as they were.
 */
export function prepareConnection(ds: DataSource): () => void {
  const db = sqliteConnection(ds);
  db?.serialize();
  const unwatch = watchTypeormValues(ds);
  if (!isMemory(ds)) recordIdentity(ds, ds.options.database as string);
  return () => {
    if (ds.isInitialized && sqliteConnection(ds) === db) db?.parallelize();
    unwatch();
    const runner = sqliteSharedRunner(ds);
    if (runner) unhookQuery(runner);
  };
}

/**
 * Only this transaction uses the connection (sasync serializes them), so
 * interrupting whatever runs on it interrupts this transaction's statement.
 */
export async function interrupt(runner: QueryRunner): Promise<boolean> {
  const db = sqliteConnection(runner.connection);
  db?.interrupt();
  return db !== undefined;
}

/**
 * The one shared runner must be usable by the next transaction: if sqlite
 * already ended the transaction itself, TypeORM's bookkeeping still says
 * it is open and would turn the next BEGIN into a SAVEPOINT.
 */
export async function discard(runner: QueryRunner): Promise<void> {
  try {
    await runner.query('ROLLBACK');
  } catch {
    // no transaction was active: exactly the state we want
  }
  setTransactionState(runner, false);
}
