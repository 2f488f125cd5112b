import { TransactionError } from '../errors';
import type { CancelToken } from '../cancel';
import type { TransactOptions } from './options';

/** Cancellation of one submission by the caller's `signal` or its `timeout`. */
export interface Cancellation {
  /** The job has started: from now on cancelling aborts its token instead of dropping it. */
  started(): void;
  /** What to do when cancelled while still queued (drop it from the queue). */
  onQueuedAbort(drop: () => void): void;
  /** Clears the timer and the listener; call on every exit. */
  dispose(): void;
}

const NONE: Cancellation = {
  started: () => undefined,
  onQueuedAbort: () => undefined,
  dispose: () => undefined,
};

/**
 * Watches `options.signal` and `options.timeout` (counted from now, so it
 * covers waiting in the queue and running). Work cancelled while queued is
 * dropped and `fail` is called at once; work cancelled while running has its
 * token aborted, and reports the cancellation through the token at once
 * (CancelToken.report) while it rolls back, keeping its queue slot.
 */
export function cancellation(
  options: TransactOptions,
  method: string | undefined,
  token: CancelToken,
  fail: (error: TransactionError) => void,
): Cancellation {
  const { signal, timeout } = options;
  if (signal === undefined && timeout === undefined) return NONE;
  const timer = timeout === undefined ? undefined : new AbortController();
  const timeoutId =
    timer &&
    setTimeout(() => {
      const error = new Error(
        `timed out after ${timeout} ms (waiting in the queue and running); raise timeout if that is too short`,
      );
      error.name = 'TimeoutError';
      timer.abort(error);
    }, timeout);
  // AbortSignal.any follows its sources without adding listeners to them: a
  // caller may share one signal among any number of transactions.
  const external = AbortSignal.any([signal, timer?.signal].filter((s): s is AbortSignal => s !== undefined));
  let started = false;
  let drop: (() => void) | undefined;
  const onAbort = () => {
    if (started) return token.abort(external.reason);
    drop?.();
    const reason = external.reason as unknown;
    const text = reason instanceof Error ? reason.message : String(reason);
    const what = method ? `transaction ${method}` : 'transaction';
    fail(new TransactionError(`${what} was cancelled before it ran: ${text}`, { cause: reason, method }));
  };
  const dispose = () => {
    if (timeoutId !== undefined) clearTimeout(timeoutId);
    external.removeEventListener('abort', onAbort);
  };
  // A running job reports its failure at the deadline through the token,
  // without waiting for its cleanup (see CancelToken.report).
  token.reportTo((error) => fail(error as TransactionError));
  if (external.aborted) onAbort();
  else external.addEventListener('abort', onAbort, { once: true });
  return {
    started() {
      started = true;
    },
    onQueuedAbort(fn) {
      drop = fn;
    },
    dispose,
  };
}
