import type { CancelToken } from '../cancel';
import { clock } from '../clock';
import { ConnectionLostError } from '../errors';
import type { TransactionSpec } from './transaction-spec';

/**
 * Whether re-running may succeed: a serialization failure or deadlock, or a
 * connection lost before COMMIT was sent (the server rolled it back).
 */
export function retryable(spec: TransactionSpec, err: unknown): boolean {
  if (err instanceof ConnectionLostError) return !err.duringCommit;
  return spec.db.dialect.isRetryable(err);
}

/** Randomized, growing pauses, so that two conflicting transactions stop colliding. */
export function backoff(attempt: number): number {
  return Math.random() * Math.min(100, 2 ** attempt);
}

/** Waits `ms` on the {@link clock}; rejects with the token's reason if it aborts first. */
export function pause(ms: number, token: CancelToken): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(() => (stop(), resolve()), ms);
    const stop = token.onAbort((reason) => (clock.clearTimeout(timer), reject(reason as Error)));
  });
}
