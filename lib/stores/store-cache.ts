/** What a cache knows of one key. */
export type Known<V> = { readonly present: true; readonly value: V } | { readonly present: false } | undefined;

/** What a cache tells those who only read it (a SyncView, a store's own reads). */
export type ReadonlyCache<K, V> = Pick<
  StoreCache<K, V>,
  'known' | 'complete' | 'size' | 'get' | 'has' | 'keys' | 'values' | 'entries' | 'copy'
>;

/**
 * A cached store's memory (pdict.py's data and key cache): values it has
 * loaded or written, keys it knows are absent, and whether it knows every key
 * of the group (`complete`: after loadAll or clear). It also numbers local
 * writes per key, so that a read which started before a write cannot
 * overwrite the newer value when it lands. Only its own methods change it:
 * local writes ({@link write}), what a read found ({@link put}),
 * {@link forget}, {@link clear}.
 */
export class StoreCache<K, V> {
  readonly #values = new Map<K, V>();
  readonly #absent = new Set<K>();
  #complete = false;
  #seq = 0;
  readonly #written = new Map<K, number>();
  /** The mark of the read each key's cached state came from. */
  readonly #readAt = new Map<K, number>();
  /** When a remote clear was learned of: reads that started before it are stale. */
  #remoteClearAt = 0;
  #clearedAt = 0;

  known(key: K): Known<V> {
    if (this.#values.has(key)) return { present: true, value: this.#values.get(key) as V };
    return this.#complete || this.#absent.has(key) ? { present: false } : undefined;
  }

  /** Whether every key of the group is known (after a whole read or a clear). */
  get complete(): boolean {
    return this.#complete;
  }

  /** How many keys are known present. */
  get size(): number {
    return this.#values.size;
  }

  /** The value of a key known present, else undefined. */
  get(key: K): V | undefined {
    return this.#values.get(key);
  }

  has(key: K): boolean {
    return this.#values.has(key);
  }

  keys(): IterableIterator<K> {
    return this.#values.keys();
  }

  values(): IterableIterator<V> {
    return this.#values.values();
  }

  entries(): IterableIterator<[K, V]> {
    return this.#values.entries();
  }

  /** The keys known present and their values, as a Map of the caller's own. */
  copy(): Map<K, V> {
    return new Map(this.#values);
  }

  /** A mark, taken when a read starts, to pass to {@link writtenSince} and {@link put}. */
  mark(): number {
    return ++this.#seq;
  }

  /** Keys known to be absent (not all of them when `complete`). */
  absentKeys(): K[] {
    return [...this.#absent];
  }

  /** Whether `key` was written locally after `mark`. */
  writtenSince(key: K, mark: number): boolean {
    return Math.max(this.#written.get(key) ?? 0, this.#clearedAt) > mark;
  }

  /** A local write. */
  write(key: K, present: boolean, value?: V): void {
    this.#written.set(key, ++this.#seq);
    this.put(key, present, value);
  }

  /**
   * Local writes of `keys` (and a clear) just became durable: a read that
   * started before now may not have seen them, so it counts as older.
   */
  durable(keys: Iterable<K>, cleared: boolean): void {
    for (const key of keys) this.#written.set(key, ++this.#seq);
    if (cleared) this.#clearedAt = ++this.#seq;
  }

  /** Whether a read that started after `mark` has already been stored for `key`. */
  readSince(key: K, mark: number): boolean {
    return Math.max(this.#readAt.get(key) ?? 0, this.#remoteClearAt) > mark;
  }

  /** What a read that started at `mark` found (reads finish out of order: see {@link readSince}). */
  put(key: K, present: boolean, value?: V, mark?: number): void {
    if (mark !== undefined) this.#readAt.set(key, mark);
    if (present) {
      this.#values.set(key, value as V);
      this.#absent.delete(key);
    } else {
      this.#values.delete(key);
      if (!this.#complete) this.#absent.add(key);
    }
  }

  /** Unknown again: the next read asks the database. */
  forget(key: K): void {
    this.#values.delete(key);
    this.#absent.delete(key);
    // Else known() would call it absent.
    this.#complete = false;
  }

  /** Everything gone: every key is known absent. */
  clear(local: boolean): void {
    if (local) this.#clearedAt = ++this.#seq;
    this.#values.clear();
    this.#absent.clear();
    this.#complete = true;
  }

  /** A read started at `mark` found the group empty: what reads that started before it found is stale. */
  clearedRemotely(mark: number): void {
    this.#remoteClearAt = Math.max(this.#remoteClearAt, mark);
  }

  /** Every key is now known. */
  completed(): void {
    this.#complete = true;
    this.#absent.clear();
  }
}
