import { CancelledError, TimeoutError, type CancelledErrorContext } from '../errors';

/**
 * The reason a `timeout` cancels work with, and so the `cause` of its
 * {@link TimeoutError}: named `TimeoutError` like the reason of the
 * platform's `AbortSignal.timeout()`, and carrying the limit.
 */
export class TimedOut extends Error {
  override readonly name = 'TimeoutError';
  constructor(readonly ms: number) {
    super(`timed out after ${ms} ms (waiting in the queue and running); raise timeout if that is too short`);
  }
}

/**
 * The error for work cancelled for `reason` (which becomes its `cause`): a
 * {@link TimeoutError} when time ran out, by a `timeout` (whose limit it
 * keeps) or by the caller's own `AbortSignal.timeout()`; otherwise a
 * {@link CancelledError}.
 */
export function cancelledError(message: string, reason: unknown, context: CancelledErrorContext = {}): CancelledError {
  const withCause = { ...context, cause: reason };
  if (!isTimeout(reason)) return new CancelledError(message, withCause);
  return new TimeoutError(message, { ...withCause, timeout: reason instanceof TimedOut ? reason.ms : undefined });
}

/** A reason's own words, for a message. */
export function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}

// By name, as the platform marks it: AbortSignal.timeout()'s reason is a
// DOMException whose name is the standard code 'TimeoutError'.
function isTimeout(reason: unknown): boolean {
  return reason instanceof TimedOut || (reason as { name?: unknown } | null)?.name === 'TimeoutError';
}
