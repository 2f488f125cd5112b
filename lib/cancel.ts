/**
 * A one-shot cancellation flag: what a running transaction watches instead of
 * an AbortController, which would cost an EventTarget on every transaction.
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
}

/** The reason a transaction is cancelled when its subscriber unsubscribes. */
export const UNSUBSCRIBED = new Error('the subscriber unsubscribed');
