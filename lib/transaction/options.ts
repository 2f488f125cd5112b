import type { IsolationLevel } from '../dialect';
import { checkReplicaOptions, type ReplicaReadOptions } from '../replicas/read-options';
import { checkPriority, type PriorityOptions } from '../scheduler/priority';

/**
 * Options of one transaction. A transaction that joins an outer one (called
 * inside its work) runs as part of it: the outer transaction's priority,
 * isolation, retry, timeout and signal apply, not these; only `savepoint`
 * (and `name`) mean something there.
 */
export interface TransactOptions extends PriorityOptions, ReplicaReadOptions {
  /** The isolation level (postgres; sqlite is always serializable). */
  readonly isolation?: IsolationLevel;
  /**
   * How many times to re-run the whole transaction after a serialization
   * failure or deadlock (postgres 40001/40P01, sqlite BUSY); default 0.
   */
  readonly retry?: number;
  /** Aborting it cancels the transaction: removed if queued, rolled back if running. */
  readonly signal?: AbortSignal;
  /** Milliseconds from subscription (queued and running) before it is cancelled. */
  readonly timeout?: number;
  /** Inside another transaction: run in a SAVEPOINT, so a failure rolls back only this part. */
  readonly savepoint?: boolean;
  /** A name for error messages (`@transact` methods are named after themselves). */
  readonly name?: string;
}

const ISOLATION_LEVELS = new Set(['READ UNCOMMITTED', 'READ COMMITTED', 'REPEATABLE READ', 'SERIALIZABLE']);

/** Checks options at call time, before anything is queued. */
export function checkTransactOptions(options: TransactOptions | undefined): void {
  if (options === undefined) return;
  checkPriority(options);
  const { retry, timeout, isolation, signal } = options;
  if (retry !== undefined && (!Number.isInteger(retry) || retry < 0 || retry > 100)) {
    throw new RangeError(
      `retry must be an integer from 0 to 100 (re-runs after a serialization failure), not ${retry}`,
    );
  }
  if (timeout !== undefined && !(typeof timeout === 'number' && timeout > 0 && timeout <= 2 ** 31 - 1)) {
    throw new RangeError(`timeout must be a positive number of milliseconds, not ${String(timeout)}`);
  }
  if (isolation !== undefined && !ISOLATION_LEVELS.has(isolation)) {
    throw new RangeError(`isolation must be one of ${[...ISOLATION_LEVELS].join(', ')}, not ${String(isolation)}`);
  }
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw new TypeError(`name must be a string, not ${typeof options.name}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError('signal must be an AbortSignal');
  }
  checkReplicaOptions(options);
}

/** Options for `.with()` merged over a method's own. */
export function mergeOptions(base: TransactOptions | undefined, extra: TransactOptions): TransactOptions {
  const merged = { ...base, ...extra };
  // Per-call doNext/doLast replace the method's, never combine with them.
  if (extra.doNext) delete (merged as { doLast?: boolean }).doLast;
  if (extra.doLast) delete (merged as { doNext?: boolean }).doNext;
  return merged;
}
