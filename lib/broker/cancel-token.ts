/**
 * A one-shot cancellation flag with at most one listener at a time: what a
 * running transaction watches instead of an AbortController, which would cost
 * an EventTarget and its listeners on every transaction.
 */
export class CancelToken {
  #aborted = false;
  #reason: unknown;
  #listener: ((reason: unknown) => void) | undefined;

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
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(reason);
  }

  /** Calls `fn` on abort, replacing any earlier listener; returns its removal. */
  onAbort(fn: (reason: unknown) => void): () => void {
    this.#listener = fn;
    return () => {
      if (this.#listener === fn) this.#listener = undefined;
    };
  }
}

/** The reason a transaction is cancelled when its subscriber unsubscribes. */
export const UNSUBSCRIBED = new Error('the subscriber unsubscribed');
