import type { Observable } from 'rxjs';

/** A cached value and when it was made (ms since the epoch, on `clock`). */
export interface CacheEntry<V = unknown> {
  /** The value the creator made (never undefined). */
  readonly value: V;
  /** When it was made, in ms since the epoch on `clock`: expiration and grace count from it. */
  readonly createdAt: number;
}

/**
 * A lock on one key that other processes respect, taken by
 * {@link CacheBackend.lock}; `release()` is called exactly once, on every
 * exit path of the creator (value, error).
 */
export interface CacheLock {
  /** Gives the lock up; the region calls it once, whatever the creator did. */
  release(): Promise<void>;
}

/**
 * Where a {@link CacheRegion} keeps its entries: a small interface a user
 * can implement (a Map, a store, a remote cache). Keys arrive mangled.
 * Only `get`, `set`, `delete` and `clear` are required; a backend shared
 * between processes adds `lock` (and `getFresh`) so that one creator runs
 * across them, and `invalidated$` so that regions learn of changes made
 * elsewhere.
 */
export interface CacheBackend {
  /**
   * The entry of `key`, or undefined. A synchronous answer (a memory hit)
   * lets the region answer without another turn of the event loop.
   */
  get(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined>;
  /**
   * The entry of `key` if it is at hand in memory, else undefined: never a
   * read elsewhere. Optional: `CacheRegion.peek` uses it, and without
   * it `get` (whose asynchronous answer then counts as not at hand).
   */
  peek?(key: string): CacheEntry | undefined;
  /**
   * Stores `entry`; resolves when it is stored. Must throw (or reject with)
   * a SerializationError for a value it cannot keep, having stored nothing.
   */
  set(key: string, entry: CacheEntry): void | Promise<void>;
  /**
   * Stores several entries, all or none: a value it cannot keep throws (or
   * rejects with) a SerializationError before any is stored. Optional:
   * without it, `getOrCreateMulti` stores them one `set` at a time (a value
   * refused partway then leaves those before it stored).
   */
  setMany?(entries: readonly (readonly [string, CacheEntry])[]): void | Promise<void>;
  /** Removes `key`, if it is there. */
  delete(key: string): void | Promise<void>;
  /** Removes every entry of the backend. */
  clear(): void | Promise<void>;
  /**
   * Takes the cross-process lock of `key`, waiting (bounded) while another
   * process holds it. Without it, single flight within this process is all
   * there is, which is enough for a backend no other process shares.
   */
  lock?(key: string): Promise<CacheLock>;
  /**
   * The entry as the shared storage has it now, bypassing any memory in
   * front: read under the lock, to see what the previous holder made.
   * Defaults to `get`.
   */
  getFresh?(key: string): Promise<CacheEntry | undefined>;
  /** Releases what the backend holds (connections, listeners). */
  close?(): Promise<void>;
  /**
   * Keys set, deleted (or, as undefined, everything cleared) by another
   * process: a region waiting for a lock retries at once.
   */
  readonly changed$?: Observable<string | undefined>;
}
