/**
 * At most one Promise in flight per key: a second caller for a key whose
 * work is running gets the same Promise, and the key is free again once it
 * settles (so that a failure is not remembered).
 */
export class SingleFlight<T> {
  readonly #running = new Map<string, Promise<T>>();

  /** The Promise running for `key`, if any. */
  running(key: string): Promise<T> | undefined {
    return this.#running.get(key);
  }

  /** Makes `promise` the one running for `key` until it settles. */
  join(key: string, promise: Promise<T>): void {
    this.#running.set(key, promise);
    const done = () => {
      if (this.#running.get(key) === promise) this.#running.delete(key);
    };
    promise.then(done, done);
  }

  /** Resolves once everything in flight now has settled (never rejects). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running.values()]);
  }

  /** How many keys have work in flight. */
  get size(): number {
    return this.#running.size;
  }
}
