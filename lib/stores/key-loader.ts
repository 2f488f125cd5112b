import { ROWS_PER_STATEMENT } from './statement';

/** What a {@link KeyLoader} reads and where the results go. */
export interface LoadTarget<K> {
  /** The stored values of some keys (at most ROWS_PER_STATEMENT), by key text; absent keys are missing. */
  read(texts: readonly string[]): Promise<Map<string, string>>;
  /** A mark taken when a read starts (see StoreCache.mark). */
  mark(): number;
  /** Stores what was read of `key` (text undefined: absent) unless newer state arrived since `mark`. */
  apply(key: K, text: string | undefined, mark: number, name: string): void;
}

/**
 * Cold-key reads with single flight and batching (like DataLoader): every
 * caller of one key shares one read, and keys asked for in the same turn of
 * the event loop are read together, `IN (…)` up to ROWS_PER_STATEMENT at a
 * time. So 100 gets in flight cost one query, not 100 in a queue.
 */
export class KeyLoader<K> {
  readonly #loads = new Map<string, Promise<void>>();
  #batch: Map<string, K> | undefined;
  /** Resolves with the keys whose value could not be read, and why. */
  #batchDone: Promise<Map<string, unknown>> | undefined;

  constructor(private readonly target: LoadTarget<K>) {}

  load(key: K, text: string): Promise<void> {
    const loading = this.#loads.get(text);
    if (loading) return loading;
    if (!this.#batch) {
      const batch = new Map<string, K>();
      this.#batch = batch;
      this.#batchDone = Promise.resolve().then(() => this.#read(batch));
      this.#batchDone.catch(() => undefined);
    }
    this.#batch.set(text, key);
    const done = this.#batchDone!.then((failed) => {
      if (failed.has(text)) throw failed.get(text);
    });
    this.#loads.set(text, done);
    return done;
  }

  async #read(batch: Map<string, K>): Promise<Map<string, unknown>> {
    this.#batch = undefined;
    const texts = [...batch.keys()];
    const failed = new Map<string, unknown>();
    try {
      for (let i = 0; i < texts.length; i += ROWS_PER_STATEMENT) {
        const some = texts.slice(i, i + ROWS_PER_STATEMENT);
        const mark = this.target.mark();
        const found = await this.target.read(some);
        for (const text of some) {
          // A value that cannot be read fails its own callers only.
          try {
            this.target.apply(batch.get(text)!, found.get(text), mark, text);
          } catch (error) {
            failed.set(text, error);
          }
        }
      }
      return failed;
    } finally {
      for (const text of texts) this.#loads.delete(text);
    }
  }
}
