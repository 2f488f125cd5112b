import { filter, map, Subscription, type Observable } from 'rxjs';
import '../async-dispose';
import { AccessBroker } from '../broker/access-broker';
import { dialectFor, type AdvisoryLockSession } from '../dialect';
import { Items } from '../stores/items';
import { PersistentDict } from '../stores/persistent-dict';
import { Missing } from '../stores/missing';
import type { Serializer } from '../stores/serializer';
import type { DatabaseTarget } from '../target';
import type { CacheBackend, CacheEntry, CacheLock } from './backend';
import { waitForLock } from './lock-wait';
import { RowLocks } from './row-lock';

/** Options of a {@link PersistentBackend}. */
export interface PersistentBackendOptions {
  /** The store group the entries are kept in (default `'sasync-cache'`); one per region. */
  readonly group?: string;
  /** How values become text and back (default: the stores' devalue serializer). */
  readonly serializer?: Serializer;
  /** Longest wait in ms for a key another process is making (default 30,000), then TimeoutError. */
  readonly lockTimeout?: number;
  /**
   * Where a lock is a row (sqlite): ms after which a lock whose holder died
   * is taken over (default 30,000). Its holder renews it every third of
   * the lease while its creator runs, so a long creator keeps its lock.
   */
  readonly lease?: number;
}

/** An entry as stored: small field names, since every entry has them. */
interface Stored {
  readonly v: unknown;
  readonly t: number;
}

/**
 * Entries in a {@link PersistentDict} group (the `sasync_items` table):
 * shared by every process on the database, kept across restarts. Hits come
 * from memory, decoded once when read from the database; writes are
 * awaited until durable. Other processes' changes reach this one through
 * the dict's `changes$` (postgres NOTIFY; on sqlite, only within the
 * process: a stale memory entry is read again under the lock, never made
 * again). Across processes one creator runs per key: on postgres under a
 * session advisory lock that dies with its connection, on sqlite under a
 * lock row with a lease. {@link close} releases the dict, the broker and
 * the lock connection.
 */
export class PersistentBackend implements CacheBackend {
  readonly #dict: PersistentDict<string, Stored>;
  readonly #items: Items<string, Stored>;
  readonly #broker: AccessBroker;
  readonly #memory = new Map<string, CacheEntry>();
  readonly #lockTimeout: number;
  readonly #lease: number;
  readonly #subscription: Subscription;
  #rows: RowLocks | undefined;
  #advisory: AdvisoryLockSession | undefined;
  readonly changed$: Observable<string | undefined>;

  /** @throws RangeError for a lockTimeout or lease that is not a positive number. */
  constructor(target?: DatabaseTarget, options: PersistentBackendOptions = {}) {
    const { group = 'sasync-cache', serializer, lockTimeout = 30_000, lease = 30_000 } = options;
    if (!(lockTimeout > 0)) throw new RangeError(`lockTimeout must be a number of ms > 0, not ${lockTimeout}`);
    if (!(lease > 0)) throw new RangeError(`lease must be a number of ms > 0, not ${lease}`);
    this.#lockTimeout = lockTimeout;
    this.#lease = lease;
    const storeOptions = serializer ? { serializer } : {};
    this.#dict = new PersistentDict(group, target, storeOptions);
    this.#items = new Items(group, target, storeOptions);
    this.#broker = new AccessBroker(target);
    const remote = this.#dict.changes$.pipe(filter((c) => c.origin === 'remote'));
    this.changed$ = remote.pipe(map((c) => c.key));
    this.#subscription = remote.subscribe((c) => {
      if (c.type === 'clear') this.#memory.clear();
      else if (c.type === 'delete' || c.value === undefined) this.#memory.delete(c.key!);
      else this.#memory.set(c.key!, entryOf(c.value));
    });
  }

  get(key: string): CacheEntry | undefined | Promise<CacheEntry | undefined> {
    return this.#memory.get(key) ?? this.#read(key);
  }

  /** The entry this process holds in memory, if any: no read from the database. */
  peek(key: string): CacheEntry | undefined {
    return this.#memory.get(key);
  }

  async getFresh(key: string): Promise<CacheEntry | undefined> {
    const found = await this.#items.load(key);
    return this.#remember(key, found instanceof Missing ? undefined : found);
  }

  async set(key: string, entry: CacheEntry): Promise<void> {
    // The dict refuses a value its serializer cannot encode before anything changes.
    await this.#dict.set(key, { v: entry.value, t: entry.createdAt });
    this.#memory.set(key, entry);
  }

  async setMany(entries: readonly (readonly [string, CacheEntry])[]): Promise<void> {
    // update() encodes every value before it writes any: a refused one leaves all as they were.
    await this.#dict.update(entries.map(([key, entry]) => [key, { v: entry.value, t: entry.createdAt }] as const));
    for (const [key, entry] of entries) this.#memory.set(key, entry);
  }

  async delete(key: string): Promise<void> {
    this.#memory.delete(key);
    await this.#dict.delete(key);
  }

  async clear(): Promise<void> {
    this.#memory.clear();
    await this.#dict.clear();
  }

  async lock(key: string): Promise<CacheLock> {
    await this.#broker.waitUntilRunning();
    const take = this.#taker();
    return waitForLock(key, () => take(key), { timeout: this.#lockTimeout, changed$: this.changed$ });
  }

  /** Releases the dict, the broker and the lock connection. */
  async close(): Promise<void> {
    this.#subscription.unsubscribe();
    await Promise.allSettled([this.#dict.shutdown(), this.#items.shutdown(), this.#advisory?.close()]);
    await this.#broker.shutdown();
  }

  /** {@link close}, for `await using backend = new PersistentBackend(…)`: released when the block is left. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The database's way to take a lock without waiting: an advisory lock where it has them, else a row. */
  #taker(): (key: string) => Promise<CacheLock | undefined> {
    const dialect = dialectFor(this.#broker.dataSource.options);
    if (dialect.capabilities.advisoryLocks && dialect.openAdvisoryLocks) {
      const session = (this.#advisory ??= dialect.openAdvisoryLocks(this.#broker.dataSource));
      return async (key) => ((await session.tryLock(key)) ? { release: () => session.unlock(key) } : undefined);
    }
    const rows = (this.#rows ??= new RowLocks(this.#broker, this.#lease));
    return (key) => rows.tryTake(key);
  }

  async #read(key: string): Promise<CacheEntry | undefined> {
    return this.#remember(key, await this.#dict.get(key, undefined));
  }

  #remember(key: string, stored: Stored | undefined): CacheEntry | undefined {
    if (stored === undefined) {
      this.#memory.delete(key);
      return undefined;
    }
    const entry = entryOf(stored);
    // A read that started before this process stored a newer entry must not put the older one back.
    const known = this.#memory.get(key);
    if (known && known.createdAt > entry.createdAt) return known;
    this.#memory.set(key, entry);
    return entry;
  }
}

function entryOf(stored: Stored): CacheEntry {
  return { value: stored.v, createdAt: stored.t };
}
