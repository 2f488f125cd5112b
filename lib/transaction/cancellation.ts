import { CancelToken } from '../cancel';
import { clock, type TimerHandle } from '../clock';
import { cancelledError, reasonText, TimedOut } from './cancelled';
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

/**
 * The key, in a call's options, of `clock.now()` when the call was
 * subscribed, where that came before its submission (a routed read waits
 * for a replica first): its timeout counts from then. Not a public option.
 */
export const CALLED_AT: unique symbol = Symbol('sasync.calledAt');

/** Options that may carry {@link CALLED_AT}. */
export interface CalledAtOptions {
  readonly [CALLED_AT]?: number;
}

const NONE: Cancellation = {
  started: () => undefined,
  onQueuedAbort: () => undefined,
  dispose: () => undefined,
};

/**
 * Watches `options.signal` and `options.timeout` (counted from now on the
 * {@link clock}, or from {@link CALLED_AT} if given, so it covers waiting
 * for a replica, in the queue and running). Work
 * cancelled while queued is dropped and `fail` is called at once with a
 * CancelledError (a TimeoutError when time ran out); work cancelled while
 * running has its token aborted, and reports the cancellation through the
 * token at once (CancelToken.report) while it rolls back, keeping its queue
 * slot. The caller's `dispose()` removes the timer and the signal's listener.
 */
export function cancellation(
  options: TransactOptions,
  method: string | undefined,
  token: CancelToken,
  fail: (error: Error) => void,
): Cancellation {
  const { signal, timeout } = options;
  if (signal === undefined && timeout === undefined) return NONE;
  const calledAt = (options as CalledAtOptions)[CALLED_AT];
  const left = timeout === undefined || calledAt === undefined ? timeout : timeout - (clock.now() - calledAt);
  return new Watch(signal, timeout, left, method, token, fail);
}

class Watch implements Cancellation {
  readonly #method: string | undefined;
  readonly #token: CancelToken;
  readonly #fail: (error: Error) => void;
  // What the caller's signal and the timer abort. Until the job starts, that
  // drops it from the queue; after, it aborts the job's own token.
  readonly #watched = new CancelToken();
  readonly #unfollow: () => void;
  #timer: TimerHandle | undefined;
  #started = false;
  #drop: (() => void) | undefined;

  constructor(
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    /** What is left of `timeout` (less where the call was subscribed before its submission). */
    left: number | undefined,
    method: string | undefined,
    token: CancelToken,
    fail: (error: Error) => void,
  ) {
    this.#method = method;
    this.#token = token;
    this.#fail = fail;
    // A running job reports its failure at the deadline through the token,
    // without waiting for its cleanup (see CancelToken.report).
    token.reportTo(fail);
    this.#watched.onAbort((reason) => this.#cancelled(reason));
    // An already aborted signal fails the submission here, before it is queued.
    this.#unfollow = this.#watched.follow(signal);
    if (timeout !== undefined && left !== undefined && !this.#watched.aborted) {
      if (left <= 0) this.#watched.abort(new TimedOut(timeout));
      else this.#timer = clock.setTimeout(() => this.#watched.abort(new TimedOut(timeout)), left);
    }
  }

  started(): void {
    this.#started = true;
  }

  onQueuedAbort(drop: () => void): void {
    this.#drop = drop;
  }

  dispose(): void {
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unfollow();
  }

  #cancelled(reason: unknown): void {
    if (this.#started) return this.#token.abort(reason);
    this.#drop?.();
    const what = this.#method ? `transaction ${this.#method}` : 'transaction';
    this.#fail(
      cancelledError(`${what} was cancelled before it ran: ${reasonText(reason)}`, reason, { method: this.#method }),
    );
  }
}
