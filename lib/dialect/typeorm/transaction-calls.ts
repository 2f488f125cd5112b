import type { QueryRunner } from 'typeorm';
import type { IsolationLevel } from '../dialect-transactions';
import { anySubscriber } from './subscribers';

/** TypeORM's runner bookkeeping of its transaction (read-only in its typings). */
interface Bookkeeping {
  isTransactionActive: boolean;
  transactionDepth: number;
}

/** Whether a subscriber of a DataSource hears of transactions starting or committing. */
const transactionsHeard = anySubscriber(
  (s) =>
    typeof s.beforeTransactionStart === 'function' ||
    typeof s.afterTransactionStart === 'function' ||
    typeof s.beforeTransactionCommit === 'function' ||
    typeof s.afterTransactionCommit === 'function',
);

/**
 * A whole transaction's BEGIN on `runner`: what TypeORM's
 * `startTransaction(isolation)` does for a runner with no transaction open
 * on a DataSource no subscriber hears transactions of (the same statements,
 * through the runner's query(), and the same bookkeeping), without its two
 * broadcasts (about six Promises). TypeORM's own method otherwise, and for
 * a runner that has one open (a savepoint).
 *
 * TypeORM internals: `isTransactionActive` and `transactionDepth`, and the
 * statements PostgresQueryRunner and AbstractSqliteQueryRunner send (the
 * same from 0.3.12 to 0.3.31). Breaks if TypeORM changes them: its own
 * commit or rollback would find the transaction in a state it did not
 * leave (spec/dialect/transaction-calls.spec.ts compares them).
 */
export async function startTransaction(
  runner: QueryRunner,
  dialect: 'sqlite' | 'postgres',
  isolation: IsolationLevel | undefined,
): Promise<void> {
  const state = runner as unknown as Bookkeeping;
  // sqlite takes two levels only: TypeORM's own error for any other.
  const refused = dialect === 'sqlite' && isolation && isolation !== 'READ UNCOMMITTED' && isolation !== 'SERIALIZABLE';
  if (refused || state.isTransactionActive || state.transactionDepth !== 0 || transactionsHeard(runner.connection)) {
    return runner.startTransaction(isolation);
  }
  state.isTransactionActive = true;
  if (dialect === 'postgres') {
    await runner.query('START TRANSACTION');
    if (isolation) await runner.query(`SET TRANSACTION ISOLATION LEVEL ${isolation}`);
  } else {
    if (isolation) await runner.query(`PRAGMA read_uncommitted = ${isolation === 'READ UNCOMMITTED'}`);
    await runner.query('BEGIN TRANSACTION');
  }
  state.transactionDepth += 1;
}

/**
 * A whole transaction's COMMIT on `runner`: what TypeORM's
 * `commitTransaction()` does for a runner with one transaction open (no
 * savepoint) on a DataSource no subscriber hears transactions of, without
 * its two broadcasts. TypeORM's own method otherwise. See {@link startTransaction}.
 */
export async function commitTransaction(runner: QueryRunner): Promise<void> {
  const state = runner as unknown as Bookkeeping;
  if (!state.isTransactionActive || state.transactionDepth !== 1 || transactionsHeard(runner.connection)) {
    return runner.commitTransaction();
  }
  await runner.query('COMMIT');
  state.isTransactionActive = false;
  state.transactionDepth -= 1;
}
