import '../async-dispose';
import type { Observable, SchedulerLike } from 'rxjs';
import { AsyncError, MissingKeyError } from '../errors';
import type { DatabaseTarget } from '../target';
import { attempt } from './attempt';
import { CachedStore, pruneNow, remoteSettled } from './cached-store';
import type { Change } from './change';
import { snapshots, watchKey } from './change-feed';
import { dictRows, sameText } from './dict-rows';
import { ItemSql } from './item-sql';
import type { Known } from './store-cache';
import { StoreGroup } from './store-group';
import type { DictOptions } from './store-options';
import { SyncView } from './sync-view';
import { ITEMS_TABLE } from './tables';

/**
 * A persistent dictionary (sAsync's PersistentDict): a group of
 * `sasync_items` behind an in-memory cache. Reads resolve from memory when
 * they can; writes change memory at once and are written lazily, coalesced,
 * whether or not anyone awaits them: each write's Promise resolves when it
 * is durable. Changes, local and (on postgres) from other processes, flow
 * out of `changes$`, `watch(key)` and `snapshot$()`.
 *
 * Values are kept by reference in the cache: do not mutate a value after
 * setting it; set a new one.
 */
export class PersistentDict<K extends string | number = string, V = unknown> implements AsyncDisposable {
  readonly #g: StoreGroup;
  readonly #store: CachedStore<K, V, K>;
  #view: SyncView<K, V> | undefined;

  /**
   * @param id the group id: a string or finite number (7 and '7' are one group).
   * @param target without one, {@link AccessBroker.setup}'s.
   * @throws TypeError for a group id of another type or bad options.
   */
  constructor(id: string | number, target?: DatabaseTarget, options?: DictOptions) {
    this.#g = new StoreGroup('PersistentDict', id, target, options, ITEMS_TABLE);
    const sql = new ItemSql(this.#g.group, (n) => this.#g.placeholder(n));
    this.#store = new CachedStore(this.#g, dictRows<K, V>(this.#g, sql));
  }

  /** Waits until the change log was read up to now and the re-reads it (or failed writes) started have finished. */
  [remoteSettled](): Promise<void> {
    return this.#store.settled();
  }

  /** Prunes the change log now (see retention.ts). */
  [pruneNow](): Promise<number> {
    return this.#g.pruneLog();
  }

  /**
   * Where this store is in the change log, as text to keep (a file, a row)
   * and give back as the `since` option of a store of the same group on a
   * later start: that store is then first told, as remote changes, what
   * other stores committed after this call. Resolves once everything
   * committed before the call has been read and its changes emitted.
   * @throws ChangeLogUnreadableError when the change log cannot be read.
   *
   * ```ts
   * const saved = await store.position();
   * // … later, maybe in another process:
   * const again = new PersistentDict('prefs', target, { since: saved });
   * again.changes$.subscribe((c) => console.log(c.type, c.key)); // what changed meanwhile, then on
   * ```
   */
  position(): Promise<string> {
    return attempt(() => {
      this.#g.assertOpen('position()');
      return this.#store.position();
    });
  }

  /** The group id as stored. */
  get group(): string {
    return this.#g.group;
  }

  /** Every change, local or remote, as it happens; completes on shutdown. Subscribing costs nothing. */
  get changes$(): Observable<Change<K, V>> {
    return this.#store.changes$;
  }

  /**
   * Resolves when the store is ready (its broker started and its table exists); rejects
   * if start-up failed. A later call tries the start-up again, after a backoff.
   */
  waitUntilRunning(): Promise<void> {
    return this.#g.waitUntilRunning();
  }

  /**
   * The value of `key`, loading it (one query however many ask at once) if
   * it is not in memory.
   * @throws MissingKeyError when there is none and no default was given.
   */
  get(key: K): Promise<V>;
  get<D>(key: K, defaultValue: D): Promise<V | D>;
  get(key: K, ...defaultValue: unknown[]): Promise<unknown> {
    // Not async: a key in memory answers with one resolved Promise, no await.
    return attempt(() => {
      this.#g.assertOpen('get()');
      const text = this.#g.key(key);
      const known = this.#store.cache.known(key);
      const answer = (k: Known<V>) => {
        if (k?.present) return k.value;
        if (defaultValue.length > 0) return defaultValue[0];
        throw new MissingKeyError(key, this.#g.group);
      };
      return known ? Promise.resolve(answer(known)) : this.#store.load(key, text).then(answer);
    });
  }

  /** Whether `key` has a value, loading it (as {@link get} does) if it is not in memory. */
  async has(key: K): Promise<boolean> {
    return (await this.#lookup(key, 'has()'))?.present === true;
  }

  /** What memory knows of `key`, reading it first if memory does not know. */
  async #lookup(key: K, what: string): Promise<Known<V>> {
    this.#g.assertOpen(what);
    const text = this.#g.key(key);
    return this.#store.cache.known(key) ?? (await this.#store.load(key, text));
  }

  /**
   * Sets `key` in memory now and writes it lazily; resolves when the value
   * (or a later one) is durable.
   * @throws InvalidKeyError or SerializationError (rejected), before anything changes.
   */
  set(key: K, value: V): Promise<void> {
    // Not async: the Promise returned is the write's own, which is marked
    // handled, so a failed write nobody awaits cannot crash the process.
    return attempt(() => this.#setNow(key, value));
  }

  /** Deletes `key` (if it is there) now in memory, lazily in the database. */
  delete(key: K): Promise<void> {
    return attempt(() => this.#deleteNow(key));
  }

  /** Empties the group now in memory, lazily in the database. */
  clear(): Promise<void> {
    return attempt(() => this.#clearNow());
  }

  /** The value of `key`, first setting it to `defaultValue` if there is none. */
  async setdefault(key: K, defaultValue: V): Promise<V> {
    const found = await this.get<typeof ABSENT>(key, ABSENT);
    if (found !== ABSENT) return found;
    await this.set(key, defaultValue);
    return defaultValue;
  }

  /** Sets every entry (a Map, an iterable of pairs, or a plain object); resolves when all are durable. */
  update(entries: ReadonlyMap<K, V> | Iterable<readonly [K, V]> | Readonly<Record<string, V>>): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('update()');
      const pairs: (readonly [K, V])[] =
        Symbol.iterator in Object(entries)
          ? [...(entries as Iterable<readonly [K, V]>)]
          : (Object.entries(entries) as unknown as [K, V][]);
      // Check every entry first: a bad one leaves everything as it was.
      const encoded = pairs.map(([key, value]) => [this.#g.key(key), this.#g.encode(value)] as const);
      const writes = pairs.map(([key, value], i) => this.#store.set(key, encoded[i]![0], value, encoded[i]![1]));
      const all = Promise.all(writes).then(() => undefined);
      all.catch(() => undefined);
      return all;
    });
  }

  /** Every item, loaded once and kept in memory from then on. */
  async loadAll(): Promise<Map<K, V>> {
    this.#g.assertOpen('loadAll()');
    await this.#store.loadAll();
    return this.#store.cache.copy();
  }

  /** Every key, after {@link loadAll}. */
  async keys(): Promise<K[]> {
    return [...(await this.loadAll()).keys()];
  }

  /** Every value, after {@link loadAll}. */
  async values(): Promise<V[]> {
    return [...(await this.loadAll()).values()];
  }

  /** Every key and value, after {@link loadAll}. */
  async entries(): Promise<[K, V][]> {
    return [...(await this.loadAll()).entries()];
  }

  /** How many items the group has, after {@link loadAll}. */
  async size(): Promise<number> {
    return (await this.loadAll()).size;
  }

  /** A plain Map with every item (sAsync's copy). */
  copy(): Promise<Map<K, V>> {
    return this.loadAll();
  }

  /** Resolves when every write made before the call is durable (sAsync's deferToWrites). */
  flush(): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('flush()');
      return this.#store.flush();
    });
  }

  /**
   * Loads every item and resolves to a synchronous, Map-like view of them
   * (`get`, `set`, `delete`, `has`, `size`, iteration) whose writes are still
   * persisted lazily; also kept as {@link view}.
   */
  async preload(): Promise<SyncView<K, V>> {
    await this.loadAll();
    this.#view ??= new SyncView<K, V>({
      cache: this.#store.cache,
      assertOpen: (what) => this.#g.assertOpen(what),
      key: (key) => this.#g.key(key),
      set: (key, value) => this.#setNow(key, value),
      delete: (key) => this.#deleteNow(key),
      clear: () => this.#clearNow(),
    });
    return this.#view;
  }

  /** The synchronous view. @throws AsyncError before {@link preload} resolved. */
  get view(): SyncView<K, V> {
    this.#g.assertOpen('view');
    if (!this.#view) {
      throw new AsyncError(
        `${this.#g.label} is asynchronous until preloaded: await its methods, or await preload() ` +
          'once and then use the synchronous view it resolves to.',
      );
    }
    return this.#view;
  }

  /**
   * The value of `key` now (undefined while absent), then after each change
   * to it, never the same value twice in a row; completes on shutdown. Each
   * subscription reads the current value once (from memory if it is there).
   */
  watch(key: K): Observable<V | undefined> {
    this.#g.assertOpen('watch()');
    const same = (a: V | undefined, b: V | undefined) =>
      Object.is(a, b) || (typeof a === 'object' && typeof b === 'object' && sameText(this.#g, a, b));
    return watchKey(this.changes$, key, () => this.get<undefined>(key, undefined), same);
  }

  /**
   * The whole dict as a ReadonlyMap once loaded, then after each burst of
   * changes: at most one per `within` ms (default 16) of `scheduler` time
   * (default the store's scheduler option).
   */
  snapshot$(options: { within?: number; scheduler?: SchedulerLike } = {}): Observable<ReadonlyMap<K, V>> {
    this.#g.assertOpen('snapshot$()');
    const { within = 16, scheduler = this.#g.scheduler } = options;
    if (!(within >= 0)) throw new RangeError(`within must be a number of ms ≥ 0, not ${within}`);
    return snapshots(
      this.changes$,
      () => this.loadAll(),
      () => this.#store.cache.copy(),
      within,
      scheduler,
    );
  }

  /**
   * Flushes, stops listening, completes the change streams and releases the
   * connection. Calls made afterwards fail with BrokerClosedError.
   */
  shutdown(): Promise<void> {
    return this.#store.close();
  }

  /**
   * {@link shutdown}, for `await using dict = new PersistentDict(…)`: the
   * writes made in the block are durable, and the connection released, when
   * the block is left (a write that failed is not thrown here: await it).
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #setNow(key: K, value: V): Promise<void> {
    this.#g.assertOpen('set()');
    return this.#store.set(key, this.#g.key(key), value, this.#g.encode(value));
  }

  #deleteNow(key: K): Promise<void> {
    this.#g.assertOpen('delete()');
    return this.#store.delete(key, this.#g.key(key));
  }

  #clearNow(): Promise<void> {
    this.#g.assertOpen('clear()');
    return this.#store.clear();
  }
}

const ABSENT = Symbol('absent');
