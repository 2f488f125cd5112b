import type sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner } from 'typeorm';

/**
 * The node-sqlite3 connection of a sqlite DataSource; undefined before it is
 * initialized and after it is destroyed.
 *
 * TypeORM internal: SqliteDriver's `databaseConnection`, its one connection.
 * Why: prepared statements are made on it (TypeORM has no API for them),
 * serialize() orders the calls on it, interrupt() stops the statement it
 * runs, and a stream in memory reads on it. Breaks if TypeORM renames it:
 * spec/broker/prepare.spec.ts, spec/broker/sqlite-serialization.spec.ts and
 * spec/transaction/cancellation.spec.ts fail.
 */
export function sqliteConnection(ds: DataSource): sqlite3.Database | undefined {
  return (ds.driver as unknown as { databaseConnection?: sqlite3.Database }).databaseConnection;
}

/**
 * Sets TypeORM's own bookkeeping of the runner's transaction, for a
 * transaction sasync began or ended by SQL of its own: open as
 * startTransaction() leaves it (depth 1), or closed.
 *
 * TypeORM internals: QueryRunner's `isTransactionActive` (read-only in its
 * typings) and `transactionDepth`. Why: sqlite's DDL transaction begins with
 * BEGIN IMMEDIATE, which startTransaction() cannot send, and TypeORM's
 * commitTransaction() must still end it; after sqlite ended a transaction by
 * itself (a failed COMMIT), the one shared runner still counts it open and
 * would turn the next BEGIN into a SAVEPOINT. Breaks if TypeORM renames them
 * or keeps more state: spec/schema/table.spec.ts (tables made concurrently)
 * and spec/broker/recovery.spec.ts fail.
 */
export function setTransactionState(runner: QueryRunner, open: boolean): void {
  const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
  state.isTransactionActive = open;
  state.transactionDepth = open ? 1 : 0;
}
