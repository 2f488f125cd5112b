import { clock } from '../clock';

/** The first pause before a failed start may be tried again, in ms; it doubles after each failure. */
export const FIRST_RETRY_DELAY = 100;
/** The longest pause between two attempts, in ms. */
export const MAX_RETRY_DELAY = 5000;

/**
 * A start (opening a database, a broker's start-up) that may fail because
 * the database is down, locked or missing, and succeed later: it is tried
 * again when next asked for, not more often than a backoff allows (100 ms,
 * doubling up to 5 s). The caller that starts a new attempt waits for it;
 * callers before the pause is over fail at once with the last error, so that
 * a database that stays down costs nobody a wait.
 */
export class Retrying {
  #attempt: Promise<void>;
  #inFlight = true;
  #failure: { readonly error: unknown; readonly retryAt: number } | undefined;
  #delay = FIRST_RETRY_DELAY;

  /** Starts the first attempt (after the caller's synchronous code: `run` may need fields set later). */
  constructor(private readonly run: () => Promise<void>) {
    this.#attempt = this.#try();
  }

  /** The latest attempt, as it is: never starts another one. */
  get current(): Promise<void> {
    return this.#attempt;
  }

  /** Whether an attempt has succeeded. */
  get done(): boolean {
    return !this.#inFlight && this.#failure === undefined;
  }

  /**
   * Resolves once started: the attempt under way, the success, or a new
   * attempt if the last one failed and its pause is over (or `now`);
   * otherwise rejects at once with the last error.
   */
  ensure(now = false): Promise<void> {
    if (this.#inFlight || !this.#failure) return this.#attempt;
    if (!now && clock.now() < this.#failure.retryAt) return Promise.reject(this.#failure.error as Error);
    return (this.#attempt = this.#try());
  }

  /** As {@link ensure}, but waits for the pause to be over instead of failing at once. */
  async ensureWaiting(): Promise<void> {
    const failure = !this.#inFlight && this.#failure;
    if (failure) {
      const wait = failure.retryAt - clock.now();
      // Not unref'd: a caller awaits this, and the process must not exit under it.
      if (wait > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, wait));
    }
    return this.ensure(true);
  }

  #try(): Promise<void> {
    this.#inFlight = true;
    // A run that throws synchronously fails like one that rejects.
    const attempt = Promise.resolve()
      .then(() => this.run())
      .then(
        () => {
          this.#inFlight = false;
          this.#failure = undefined;
          this.#delay = FIRST_RETRY_DELAY;
        },
        (error: unknown) => {
          this.#inFlight = false;
          this.#failure = { error, retryAt: clock.now() + this.#delay };
          this.#delay = Math.min(2 * this.#delay, MAX_RETRY_DELAY);
          throw error;
        },
      );
    // Callers report a failure themselves; this copy must not count as unhandled.
    attempt.catch(() => undefined);
    return attempt;
  }
}
