/**
 * sasync's one cancellation primitive: a one-shot flag that a transaction, a
 * run() or a row stream watches while it runs. `AbortSignal` appears only at
 * the public edge (a caller's `options.signal`), where {@link follow} turns
 * it into a token; inside, everything cancels and listens through tokens.
 *
 * Why not AbortController inside: every transaction has a token, and most
 * finish with nobody cancelling them. Measured on Node 20.20 (200,000 rounds,
 * three runs on a shared machine): `new AbortController()` with one
 * addEventListener/removeEventListener 7.8–13.6 µs, with `abort()` instead of
 * the removal 17.8–27.4 µs; a CancelToken with three onAbort add/remove
 * 0.20–0.25 µs, with `abort()` 0.03–0.07 µs. Watching one transaction's
 * `timeout` and `signal` (transaction/cancellation.ts) took 60–105 µs with an
 * AbortController per timer and AbortSignal.any, and takes 0.6–4 µs with
 * tokens and a clock timer.
 *
 * ```ts
 * const token = new CancelToken();
 * const unfollow = token.follow(options.signal); // the caller's signal, if any
 * const unlisten = token.onAbort((reason) => cursor.close(reason));
 * try {
 *   return await untilAborted(cursor.read(100), token);
 * } finally {
 *   unlisten();
 *   unfollow();
 * }
 * ```
 */
export class CancelToken {
  #aborted = false;
  #reason: unknown;
  // Made on first use: most transactions finish without anyone listening.
  #listeners: Set<(reason: unknown) => void> | undefined;
  #reporter: ((error: Error) => void) | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** Cancels once; later calls do nothing. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    for (const listener of listeners ?? []) listener(reason);
  }

  /**
   * Where {@link report} sends an error: the subscriber of the transaction,
   * set by whoever watches the caller's timeout and signal.
   */
  reportTo(reporter: (error: Error) => void): void {
    this.#reporter = reporter;
  }

  /**
   * Tells the caller now that the cancelled work failed, while its cleanup
   * (ROLLBACK, or destroying a connection that does not answer) goes on and
   * keeps the queue slot. Returns whether anyone was told (once at most).
   */
  report(error: Error): boolean {
    const reporter = this.#reporter;
    this.#reporter = undefined;
    reporter?.(error);
    return reporter !== undefined;
  }

  /** Calls `fn` on abort; returns its removal. */
  onAbort(fn: (reason: unknown) => void): () => void {
    (this.#listeners ??= new Set()).add(fn);
    return () => void this.#listeners?.delete(fn);
  }

  /**
   * Aborts this token, with the signal's reason, when `signal` aborts (at
   * once if it has already). Returns the removal: call it when the work
   * ends, whatever way. However many tokens follow one signal, the signal
   * carries one listener of sasync's (a caller may share one signal among
   * any number of transactions without a MaxListenersExceededWarning), and
   * none once every follower is removed.
   */
  follow(signal: AbortSignal | undefined): () => void {
    if (signal === undefined) return NOTHING;
    if (signal.aborted) {
      this.abort(signal.reason);
      return NOTHING;
    }
    let tokens = followers.get(signal);
    if (!tokens) {
      followers.set(signal, (tokens = new Set()));
      signal.addEventListener('abort', abortFollowers, { once: true });
    }
    const set = tokens.add(this);
    return () => {
      set.delete(this);
      // Another follower may have made a new set since this one emptied.
      if (set.size > 0 || followers.get(signal) !== set) return;
      followers.delete(signal);
      signal.removeEventListener('abort', abortFollowers);
    };
  }
}

/**
 * `promise`, unless `token` aborts first: then a rejection with the token's
 * reason (the promise runs on; its outcome is dropped). For waits that must
 * end at a cancellation even when the server does not answer.
 */
export function untilAborted<T>(promise: Promise<T>, token: CancelToken): Promise<T> {
  if (token.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(token.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const stop = token.onAbort((reason) => reject(reason as Error));
    promise.then(
      (value) => (stop(), resolve(value)),
      (err: unknown) => (stop(), reject(err as Error)),
    );
  });
}

/** The reason a transaction is cancelled when its subscriber unsubscribes. */
export const UNSUBSCRIBED = new Error('the subscriber unsubscribed');

const NOTHING = (): void => undefined;

/** The tokens following each caller signal (see CancelToken.follow). */
const followers = new WeakMap<AbortSignal, Set<CancelToken>>();

function abortFollowers(event: Event): void {
  const signal = event.target as AbortSignal;
  const tokens = followers.get(signal);
  followers.delete(signal);
  // A copy: a token's listeners may remove other followers meanwhile.
  for (const token of [...(tokens ?? [])]) token.abort(signal.reason);
}
