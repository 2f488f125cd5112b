import { TransactionError } from '../errors';
import type { TransactOptions } from './options';

/** Cancellation of one submission by the caller's `signal` or its `timeout`. */
export interface Cancellation {
  /** The signal a running job obeys: its slot's (unsubscribe), the caller's, or the timeout. */
  link(slot: AbortSignal): AbortSignal;
  /** What to do when cancelled while still queued (drop it from the queue). */
  onQueuedAbort(drop: () => void): void;
  /** Clears the timer and the listener; call on every exit. */
  dispose(): void;
}

const NONE: Cancellation = {
  link: (slot) => slot,
  onQueuedAbort: () => undefined,
  dispose: () => undefined,
};

/**
 * Watches `options.signal` and `options.timeout` (counted from now, so it
 * covers waiting in the queue and running). Work cancelled while queued is
 * dropped and `fail` is called at once; work cancelled while running sees its
 * linked signal abort and reports the cancellation after rolling back.
 */
export function cancellation(options: TransactOptions, fail: (error: TransactionError) => void): Cancellation {
  const { signal, timeout } = options;
  if (signal === undefined && timeout === undefined) return NONE;
  const external = new AbortController();
  let started = false;
  let drop: (() => void) | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const onAbort = () => external.abort(signal?.reason);
  const onExternalAbort = () => {
    if (started) return;
    drop?.();
    const reason = external.signal.reason as unknown;
    const text = reason instanceof Error ? reason.message : String(reason);
    fail(new TransactionError(`transaction was cancelled before it ran: ${text}`, { cause: reason }));
  };
  external.signal.addEventListener('abort', onExternalAbort, { once: true });
  if (timeout !== undefined) {
    timer = setTimeout(() => {
      const error = new Error(
        `timed out after ${timeout} ms (waiting in the queue and running); raise timeout if that is too short`,
      );
      error.name = 'TimeoutError';
      external.abort(error);
    }, timeout);
  }
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return {
    link(slot) {
      started = true;
      return AbortSignal.any([slot, external.signal]);
    },
    onQueuedAbort(fn) {
      drop = fn;
    },
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      external.signal.removeEventListener('abort', onExternalAbort);
    },
  };
}
