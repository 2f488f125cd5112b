import type { QueryRunner } from 'typeorm';
import { TransactionError } from '../../errors';
import type { DialectTransactions } from '../dialect';
import { driverErrorCode } from '../driver-error';
import { transactionStatus } from '../typeorm/pg-client';
import { pipelines } from '../typeorm/pg-pipeline';
import { isStalePlan } from '../typeorm/pg-prepare';
import { runnerClient } from '../typeorm/postgres-driver';

/**
 * serialization_failure and deadlock_detected: the transaction may succeed
 * if re-run; so may one whose cached statement went stale (a schema change).
 */
const RETRYABLE = new Set(['40001', '40P01']);

export const postgresTransactions: DialectTransactions = {
  isolation: (level) => level,

  isRetryable: (error) => RETRYABLE.has(driverErrorCode(error) ?? '') || isStalePlan(error),

  // The server owns its files: a committed write is durable wherever they are.
  // But work that caught a failed statement and went on has a transaction the
  // server already aborted: postgres would answer COMMIT with ROLLBACK, and the
  // caller would be told its writes were committed when none were.
  // A subscriber's beforeTransactionCommit runs before COMMIT, and may send statements of its own: with one,
  // COMMIT waits for the statement's answer as usual.
  commitsWithLastStatement(runner: QueryRunner): boolean {
    const client = runnerClient(runner);
    if (!client || !pipelines(client)) return false;
    return !runner.connection.subscribers.some((s) => typeof s.beforeTransactionCommit === 'function');
  },

  verifyWritable(runner: QueryRunner): Promise<void> | void {
    const client = runnerClient(runner);
    if (!client) return;
    // (No Promise when the status is here: this runs for every transaction.)
    const status = transactionStatus(client);
    if (status instanceof Promise) return status.then(refuseAborted);
    refuseAborted(status);
  },
};

/** Throws if the server has aborted the client's transaction (see verifyWritable). */
function refuseAborted(status: string | null | undefined): void {
  if (status !== 'E') return;
  throw new TransactionError(
    'the work caught a failed statement and went on, but postgres had already aborted the transaction ' +
      '(it answers COMMIT with ROLLBACK), so nothing it wrote was kept: let the error propagate, or run ' +
      'the part that may fail in a nested transaction with { savepoint: true }',
    { cause: Object.assign(new Error('current transaction is aborted'), { code: '25P02' }), dialect: 'postgres' },
  );
}
