/** What a cache knows of one key. */
export type Known<V> = { readonly present: true; readonly value: V } | { readonly present: false } | undefined;

/**
 * A PersistentDict's memory (pdict.py's data and key cache): values it has
 * loaded or written, keys it knows are absent, and whether it knows every key
 * of the group (`complete`: after loadAll or clear). It also numbers local
 * writes per key, so that a read which started before a write cannot
 * overwrite the newer value when it lands.
 */
export class DictCache<K, V> {
  readonly values = new Map<K, V>();
  readonly #absent = new Set<K>();
  complete = false;
  #seq = 0;
  readonly #written = new Map<K, number>();
  #clearedAt = 0;

  known(key: K): Known<V> {
    if (this.values.has(key)) return { present: true, value: this.values.get(key) as V };
    return this.complete || this.#absent.has(key) ? { present: false } : undefined;
  }

  /** A mark to pass to {@link writtenSince}. */
  mark(): number {
    return this.#seq;
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

  /** What was read from the database. */
  put(key: K, present: boolean, value?: V): void {
    if (present) {
      this.values.set(key, value as V);
      this.#absent.delete(key);
    } else {
      this.values.delete(key);
      if (!this.complete) this.#absent.add(key);
    }
  }

  /** Unknown again: the next read asks the database. */
  forget(key: K): void {
    this.values.delete(key);
    this.#absent.delete(key);
  }

  /** Everything gone: every key is known absent. */
  clear(local: boolean): void {
    if (local) this.#clearedAt = ++this.#seq;
    this.values.clear();
    this.#absent.clear();
    this.complete = true;
  }

  /** Every key is now known. */
  completed(): void {
    this.complete = true;
    this.#absent.clear();
  }
}
