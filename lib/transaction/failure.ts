import { CancelledError, ConnectionLostError, DatabaseError, TransactionError } from '../errors';
import { cancelledError, reasonText } from './cancelled';
import { retryable } from './retry';
import type { TransactionSpec } from './transaction-spec';

/** "transaction save", "statement", …: what failed, for messages. */
export function label(spec: TransactionSpec): string {
  const what = spec.autocommit ? 'statement' : 'transaction';
  return spec.method ? `${what} ${spec.method}` : what;
}

/**
 * The error of a transaction that failed (a driver error, the work's own, a
 * lost connection), with a hint when re-running may succeed. A TransactionError
 * or CancelledError from a transaction the work ran inside goes through as it
 * is: it says already what failed. So does the refusal of work on an app's
 * DataSource its owner destroyed: the work never began, and nothing was
 * rolled back.
 */
export function failed(
  spec: TransactionSpec,
  err: unknown,
  attempts: number,
): TransactionError | CancelledError | DatabaseError {
  if ((err instanceof TransactionError || err instanceof CancelledError) && attempts === 1) return err;
  if (err instanceof DatabaseError && err === spec.db.destroyedByOwner) return err;
  const reason = reasonText(err);
  const lost = err instanceof ConnectionLostError;
  // A lost connection's message says already what to do.
  const hint =
    !lost && retryable(spec, err)
      ? attempts > 1
        ? ` (still failing after ${attempts} attempts: raise retry or reduce contention)`
        : ' (it may succeed if re-run: pass { retry: 3 })'
      : '';
  const outcome = spec.autocommit || (lost && err.duringCommit) ? 'failed' : 'failed and was rolled back';
  return new TransactionError(`${label(spec)} ${outcome}: ${reason}${hint}`, {
    cause: err,
    method: spec.method,
    dialect: spec.db.dialect.name,
    attempts,
  });
}

/** The error of a transaction cancelled (for `reason`) while it ran, and rolled back. */
export function cancelled(spec: TransactionSpec, reason: unknown, attempts: number): CancelledError {
  return cancelledError(`${label(spec)} was cancelled and rolled back: ${reasonText(reason)}`, reason, {
    method: spec.method,
    dialect: spec.db.dialect.name,
    attempts,
  });
}

/**
 * The error of a transaction cancelled while its COMMIT was on the way: it
 * may have committed (`outcomeUnknown`).
 */
export function cancelledDuringCommit(spec: TransactionSpec, reason: unknown, attempts: number): CancelledError {
  return cancelledError(
    `${label(spec)} was cancelled while its COMMIT was on the way to the server: ${reasonText(reason)}. ` +
      'Whether it committed is unknown: check before running it again',
    reason,
    { method: spec.method, dialect: spec.db.dialect.name, attempts, outcomeUnknown: true },
  );
}

/**
 * A lost connection, told as one. Lost before COMMIT was sent, the server
 * rolled the transaction back and `retry` re-runs it; lost while COMMIT (or
 * an autocommit statement) was on the way, the outcome is unknown and it is
 * never re-run.
 */
export function connectionLost(
  spec: TransactionSpec,
  cause: unknown,
  connecting: boolean,
  committing: boolean,
): ConnectionLostError {
  return new ConnectionLostError(`running ${label(spec)}`, {
    cause,
    target: spec.db.label,
    connecting,
    duringCommit: !connecting && (committing || spec.autocommit === true),
  });
}

/** Work that returned while a savepoint it started was still running. */
export function savepointStillOpen(spec: TransactionSpec): TransactionError {
  return new TransactionError(
    `${label(spec)} returned while a nested { savepoint: true } part was still running; ` +
      'it was rolled back: await every nested transaction inside the work',
    { method: spec.method, dialect: spec.db.dialect.name },
  );
}

/**
 * Work that failed after commitWith() had committed its transaction: what it
 * wrote was kept (`committed`), and it is never re-run.
 */
export function failedAfterCommit(spec: TransactionSpec, err: unknown, attempts: number): TransactionError {
  return new TransactionError(
    `${label(spec)} committed (commitWith), but its work failed after that: ${reasonText(err)}. ` +
      'What it wrote was kept; do nothing after commitWith() but return its result',
    { cause: err, method: spec.method, dialect: spec.db.dialect.name, attempts, committed: true },
  );
}
