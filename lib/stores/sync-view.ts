import type { ReadonlyCache } from './store-cache';

/** What a {@link SyncView} needs of its dict. */
export interface SyncHost<K, V> {
  readonly cache: ReadonlyCache<K, V>;
  /** @throws BrokerClosedError once the dict is shut down. */
  assertOpen(what: string): void;
  /** @throws InvalidKeyError */
  key(key: K): string;
  /** Each @throws at once (bad key, unstorable value, shut down) before anything changes. */
  set(key: K, value: V): Promise<void>;
  delete(key: K): Promise<void>;
  clear(): Promise<void>;
}

/**
 * A preloaded PersistentDict used synchronously, like a Map. Writes change
 * memory at once and are persisted lazily (await the dict's `flush()` to know
 * they are durable); bad keys and unstorable values throw at once, and
 * every member throws BrokerClosedError once the dict is shut down.
 */
export class SyncView<K, V> implements Iterable<[K, V]> {
  readonly #host: SyncHost<K, V>;

  constructor(host: SyncHost<K, V>) {
    this.#host = host;
  }

  /** How many items the dict has in memory (all of them: the view is preloaded). */
  get size(): number {
    this.#host.assertOpen('view.size');
    return this.#host.cache.size;
  }

  /** The value of `key`, or undefined. */
  get(key: K): V | undefined {
    this.#host.assertOpen('view.get()');
    this.#host.key(key);
    return this.#host.cache.get(key);
  }

  /** Whether `key` has a value. */
  has(key: K): boolean {
    this.#host.assertOpen('view.has()');
    this.#host.key(key);
    return this.#host.cache.has(key);
  }

  /** Sets `key` now in memory and writes it lazily. */
  set(key: K, value: V): this {
    void this.#host.set(key, value);
    return this;
  }

  /** Deletes `key` now in memory and lazily in the database; true if the key was there. */
  delete(key: K): boolean {
    const had = this.has(key);
    void this.#host.delete(key);
    return had;
  }

  /** Empties the group now in memory and lazily in the database. */
  clear(): void {
    void this.#host.clear();
  }

  /** Every key (the view is preloaded, so memory has them all). */
  keys(): IterableIterator<K> {
    this.#host.assertOpen('view.keys()');
    return this.#host.cache.keys();
  }

  /** Every value, in the order of {@link keys}. */
  values(): IterableIterator<V> {
    this.#host.assertOpen('view.values()');
    return this.#host.cache.values();
  }

  /** The `[key, value]` pairs. */
  entries(): IterableIterator<[K, V]> {
    this.#host.assertOpen('view.entries()');
    return this.#host.cache.entries();
  }

  /** Calls `callback` with each value and key, as `Map.forEach` does. */
  forEach(callback: (value: V, key: K, view: this) => void): void {
    for (const [key, value] of this.entries()) callback(value, key, this);
  }

  /** The `[key, value]` pairs, as {@link entries}. */
  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }
}
