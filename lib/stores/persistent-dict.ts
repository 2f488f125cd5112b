import { Observable, Subject, type SchedulerLike } from 'rxjs';
import { AsyncError, MissingKeyError, SerializationError } from '../errors';
import type { DatabaseTarget } from '../target';
import type { Change } from './change';
import { snapshots, watchKey } from './change-feed';
import { attempt } from './attempt';
import { DictCache, type Known } from './dict-cache';
import { KeyLoader } from './key-loader';
import { RemoteSync, remoteSettled } from './remote-sync';
import { Reread } from './reread';
import { writeRuns } from './write-order';
import { StoreGroup, type StoreWrite } from './store-group';
import type { DictOptions } from './store-options';
import { SyncView } from './sync-view';
import { WriteQueue, type WriteBatch } from './write-queue';

type Row = { name: string; value: string };

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
export class PersistentDict<K extends string | number = string, V = unknown> {
  readonly #g: StoreGroup;
  readonly #cache = new DictCache<K, V>();
  readonly #writes: WriteQueue;
  readonly #loader: KeyLoader<K>;
  readonly #changes = new Subject<Change<K, V>>();
  readonly #reread: Reread<K, V>;
  readonly #remote: RemoteSync;
  #view: SyncView<K, V> | undefined;
  #shutdown: Promise<void> | undefined;

  /**
   * @param id the group id: a string or finite number (7 and '7' are one group).
   * @param target without one, {@link AccessBroker.setup}'s.
   * @throws TypeError for a group id of another type or bad options.
   */
  constructor(id: string | number, target?: DatabaseTarget, options?: DictOptions) {
    this.#g = new StoreGroup('PersistentDict', id, target, options);
    this.#writes = new WriteQueue(
      (take) => this.#g.write(() => this.#batch(take())),
      // A write that finally failed: memory shows the table again, then its Promise rejects.
      (batch) => (batch.cleared ? this.#reread.group('local') : this.#reread.keys([...batch.writes.keys()], 'local')),
      (batch) => this.#cache.durable(this.#keysOf(batch.writes.keys()), batch.cleared),
    );
    this.#loader = new KeyLoader<K>({
      read: async (texts) => {
        const rows = await this.#g.read<Row>(this.#g.sql.loadSome(texts));
        return new Map(rows.map((r) => [r.name, r.value]));
      },
      mark: () => this.#cache.mark(),
      apply: (k, stored, mark, text) => {
        // A local write (or a newer read) since the query started wins.
        if (this.#cache.known(k) !== undefined || this.#cache.writtenSince(k, mark)) return;
        if (stored === undefined) this.#cache.put(k, false, undefined, mark);
        else this.#cache.put(k, true, this.#g.decode(text, stored) as V, mark);
      },
    });
    this.#reread = new Reread<K, V>({
      cache: this.#cache,
      keyOf: (text) => this.#keyOf(text),
      textOf: (key) => this.#g.key(key),
      readSome: async (texts) => rowMap(await this.#g.read<Row>(this.#g.sql.loadSome(texts))),
      readAll: async () => rowMap(await this.#g.read<Row>(this.#g.sql.loadAll())),
      decode: (text, stored) => this.#g.decode(text, stored) as V,
      pending: (text) => this.#writes.pending(text),
      emit: (change) => this.#changes.next(change),
      same: (a, b) => Object.is(a, b) || this.#sameText(a, b),
    });
    this.#remote = new RemoteSync(this.#g, this.#reread);
  }

  /** Waits until the re-reads that notices (or failed writes) started have finished. */
  [remoteSettled](): Promise<void> {
    return this.#reread.settled();
  }

  /** The group id as stored. */
  get group(): string {
    return this.#g.group;
  }

  /** Every change, local or remote, as it happens; completes on shutdown. Subscribing costs nothing. */
  get changes$(): Observable<Change<K, V>> {
    return this.#changes.asObservable();
  }

  waitUntilRunning(): Promise<void> {
    return this.#g.broker.waitUntilRunning();
  }

  /**
   * The value of `key`, loading it (one query however many ask at once) if
   * it is not in memory.
   * @throws MissingKeyError when there is none and no default was given.
   */
  get(key: K): Promise<V>;
  get<D>(key: K, defaultValue: D): Promise<V | D>;
  async get(key: K, ...defaultValue: unknown[]): Promise<unknown> {
    const known = await this.#lookup(key, 'get()');
    if (known?.present) return known.value;
    if (defaultValue.length > 0) return defaultValue[0];
    throw new MissingKeyError(key, this.#g.group);
  }

  async has(key: K): Promise<boolean> {
    return (await this.#lookup(key, 'has()'))?.present === true;
  }

  /** What memory knows of `key`, reading it first if memory does not know. */
  async #lookup(key: K, what: string): Promise<Known<V>> {
    this.#g.assertOpen(what);
    const text = this.#g.key(key);
    if (this.#cache.known(key) === undefined) await this.#loader.load(key, text);
    return this.#cache.known(key);
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
      const writes = pairs.map(([key, value], i) => this.#apply(key, value, encoded[i]![0], encoded[i]![1]));
      const all = Promise.all(writes).then(() => undefined);
      all.catch(() => undefined);
      return all;
    });
  }

  /** Every item, loaded once and kept in memory from then on. */
  async loadAll(): Promise<Map<K, V>> {
    this.#g.assertOpen('loadAll()');
    if (!this.#cache.complete) await this.#loadAll();
    return new Map(this.#cache.values);
  }

  async keys(): Promise<K[]> {
    return [...(await this.loadAll()).keys()];
  }

  async values(): Promise<V[]> {
    return [...(await this.loadAll()).values()];
  }

  async entries(): Promise<[K, V][]> {
    return [...(await this.loadAll()).entries()];
  }

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
      return this.#writes.flush();
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
      cache: this.#cache,
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
      Object.is(a, b) || (typeof a === 'object' && typeof b === 'object' && this.#sameText(a, b));
    return watchKey(this.changes$, key, () => this.get<undefined>(key, undefined), same);
  }

  /**
   * The whole dict as a ReadonlyMap once loaded, then after each burst of
   * changes: at most one per `within` ms (default 16) of `scheduler` time
   * (default the store's scheduler option).
   */
  snapshot$(options: { within?: number; scheduler?: SchedulerLike } = {}): Observable<ReadonlyMap<K, V>> {
    this.#g.assertOpen('snapshot$()');
    const { within = 16, scheduler = this.#g.options.scheduler } = options;
    if (!(within >= 0)) throw new RangeError(`within must be a number of ms ≥ 0, not ${within}`);
    return snapshots(
      this.changes$,
      () => this.loadAll(),
      () => new Map(this.#cache.values),
      within,
      scheduler,
    );
  }

  /**
   * Flushes, stops listening, completes the change streams and releases the
   * connection. Calls made afterwards fail with BrokerClosedError.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#close();
    return this.#shutdown;
  }

  async #close(): Promise<void> {
    const flushed = this.#writes.flush().catch(() => undefined);
    await this.#g.shutdown(async () => {
      await flushed;
      this.#remote.stop();
      this.#reread.stop();
    });
    this.#changes.complete();
  }

  #setNow(key: K, value: V): Promise<void> {
    this.#g.assertOpen('set()');
    return this.#apply(key, value, this.#g.key(key), this.#g.encode(value));
  }

  #apply(key: K, value: V, text: string, encoded: string): Promise<void> {
    const previous = this.#cache.known(key);
    this.#cache.write(key, true, value);
    this.#changes.next({
      type: 'set',
      key,
      value,
      previous: previous?.present ? previous.value : undefined,
      origin: 'local',
    });
    return this.#writes.set(text, encoded);
  }

  #deleteNow(key: K): Promise<void> {
    this.#g.assertOpen('delete()');
    const text = this.#g.key(key);
    const previous = this.#cache.known(key);
    this.#cache.write(key, false);
    if (previous?.present !== false) {
      const value = previous?.present ? previous.value : undefined;
      this.#changes.next({ type: 'delete', key, value: undefined, previous: value, origin: 'local' });
    }
    return this.#writes.delete(text);
  }

  #clearNow(): Promise<void> {
    this.#g.assertOpen('clear()');
    this.#cache.clear(true);
    this.#changes.next({ type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'local' });
    return this.#writes.clear();
  }

  async #loadAll(): Promise<void> {
    const mark = this.#cache.mark();
    const rows = await this.#g.read<Row>(this.#g.sql.loadAll());
    const { values, failures } = this.#decodeRows(rows);
    for (const [key, value] of values) {
      if (!this.#cache.writtenSince(key, mark) && this.#cache.known(key) === undefined)
        this.#cache.put(key, true, value, mark);
    }
    if (failures.length > 0) throw failures[0]!;
    this.#cache.completed();
  }

  /** Rows decoded; a corrupt value is reported by key, and the others still load. */
  #decodeRows(rows: readonly Row[]): { values: Map<K, V>; failures: SerializationError[] } {
    const values = new Map<K, V>();
    const failures: SerializationError[] = [];
    for (const row of rows) {
      try {
        values.set(this.#g.keyOf<K>(row.name), this.#g.decode(row.name, row.value) as V);
      } catch (error) {
        if (!(error instanceof SerializationError)) throw error;
        failures.push(error);
      }
    }
    return { values, failures };
  }

  /**
   * The statements and notice of one write transaction: keys in the order
   * of the table's unique index, so that two writers of the same keys lock
   * them in the same order and cannot deadlock each other.
   */
  #batch(batch: WriteBatch): StoreWrite {
    const sql = this.#g.sql;
    const statements = batch.cleared ? [sql.clear()] : [];
    for (const run of writeRuns(batch.writes)) {
      if (run.deleted) statements.push(sql.delete(run.keys));
      else statements.push(sql.upsert(run.keys.map((name) => [name, batch.writes.get(name) as string] as const)));
    }
    return { statements, notice: { ...(batch.cleared ? { c: 1 as const } : {}), k: [...batch.writes.keys()] } };
  }

  /** The keys stored names are (names that are no key of this dict left out). */
  *#keysOf(texts: Iterable<string>): Iterable<K> {
    for (const text of texts) {
      const key = this.#keyOf(text);
      if (key !== undefined) yield key;
    }
  }

  /** The key a stored name is, or undefined when no key of this dict is stored so. */
  #keyOf(text: string): K | undefined {
    try {
      const key = this.#g.keyOf<K>(text);
      return this.#g.key(key) === text ? key : undefined;
    } catch {
      return undefined;
    }
  }

  #sameText(a: unknown, b: unknown): boolean {
    try {
      return this.#g.encode(a) === this.#g.encode(b);
    } catch {
      return false;
    }
  }
}

const ABSENT = Symbol('absent');

function rowMap(rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [r.name, r.value]));
}
