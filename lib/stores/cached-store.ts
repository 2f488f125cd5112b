import { Observable, Subject } from 'rxjs';
import { SerializationError } from '../errors';
import type { Change } from './change';
import { KeyLoader } from './key-loader';
import { Reread } from './reread';
import { untilRead } from './remote-retry';
import { StoreCache, type Known, type ReadonlyCache } from './store-cache';
import type { StoreGroup } from './store-group';
import type { StoreRows } from './store-rows';
import { DELETED, WriteQueue, type WriteBatch } from './write-queue';
import type { ChangeEntry } from '../changes/entry';

/**
 * Waits until the change log was read up to now (what other stores committed
 * before the call has been handed out) and the re-reads that started (or
 * failed writes did) have finished; for specs.
 */
export const remoteSettled = Symbol('sasync.remoteSettled');

/** Prunes the change log now, with the store's retention settings; resolves with how many entries went. For specs. */
export const pruneNow = Symbol('sasync.pruneNow');

/**
 * The core of a store with a cache (PersistentDict, PersistentArray): reads
 * resolve from memory when they can and load cold keys in batches; writes
 * change memory at once, emit a local change and are written lazily,
 * coalesced, each write's Promise resolving once it is durable. A write
 * that finally fails, and (with `remote`) another store's change in the
 * change log, makes memory read the table again. {@link close} flushes, stops
 * listening, completes `changes$` and releases the group's broker.
 */
export class CachedStore<K, V, C> {
  readonly #cache = new StoreCache<K, V>();
  readonly #g: StoreGroup;
  readonly #rows: StoreRows<K, V, C>;
  readonly #writes: WriteQueue;
  readonly #loader: KeyLoader<K>;
  readonly #reread: Reread<K, V>;
  readonly #changes = new Subject<Change<C, V>>();
  readonly #unlisten: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(group: StoreGroup, rows: StoreRows<K, V, C>) {
    this.#g = group;
    this.#rows = rows;
    this.#writes = new WriteQueue(
      (take) => group.write(() => this.#batch(take())),
      // A write that finally failed: memory shows the table again, then its Promise rejects.
      (batch) => (batch.cleared ? this.#reread.group('local') : this.#reread.keys([...batch.writes.keys()], 'local')),
      (batch) => this.#cache.durable(this.#keysOf(batch.writes.keys()), batch.cleared),
    );
    this.#loader = new KeyLoader<K>({
      read: (texts) => rows.readSome(texts),
      mark: () => this.#cache.mark(),
      apply: (key, stored, mark, text) => {
        // A local write (or a newer read) since the query started wins.
        if (this.#cache.known(key) !== undefined || this.#cache.writtenSince(key, mark)) return;
        if (stored === undefined) this.#cache.put(key, false, undefined, mark);
        else this.#cache.put(key, true, group.decode(text, stored) as V, mark);
      },
    });
    this.#reread = new Reread<K, V>({
      cache: this.#cache,
      keyOf: (text) => rows.keyOf(text),
      textOf: (key) => rows.textOf(key),
      readSome: (texts) => rows.readSome(texts),
      readAll: () => rows.readAll(),
      decode: (text, stored) => group.decode(text, stored) as V,
      pending: (text) => this.#writes.pending(text),
      emit: (change) =>
        this.#emit({ ...change, key: change.key === undefined ? undefined : rows.changeKey(change.key) }),
      same: (a, b) => rows.same(a, b),
    });
    this.#unlisten = rows.remote
      ? group.listen({
          keys: (texts) => this.#remote(() => this.#reread.keys(texts, 'remote')),
          // Told what changed since a saved position, memory knew nothing then: every key found is news.
          group: () => {
            const whole = group.catchingUp;
            this.#remote(() => this.#reread.group('remote', whole));
          },
          resync: (reason, error) => {
            const whole = group.catchingUp;
            this.#emit({ ...RESYNC, reason, ...(error === undefined ? {} : { error }) });
            this.#remote(() => this.#reread.group('remote', whole));
          },
        })
      : undefined;
  }

  /** What memory holds, to read synchronously. */
  get cache(): ReadonlyCache<K, V> {
    return this.#cache;
  }

  /** Every change, local or remote, as it happens; completes on close. */
  get changes$(): Observable<Change<C, V>> {
    return this.#changes.asObservable();
  }

  /**
   * Reads `key` (stored as `text`) into memory, one query however many ask
   * at once, and resolves to what memory then knows of it. Ask
   * `cache.known(key)` first: a cached read must not pay for a Promise.
   */
  async load(key: K, text: string): Promise<Known<V>> {
    await this.#loader.load(key, text);
    return this.#cache.known(key);
  }

  /**
   * Reads every key of the group into memory, once: memory knows them all
   * from then on. A value that cannot be decoded rejects (the first such
   * SerializationError) after the others were taken.
   */
  async loadAll(): Promise<void> {
    if (this.#cache.complete) return;
    const mark = this.#cache.mark();
    const found = await this.#rows.readAll();
    const failures: SerializationError[] = [];
    for (const [text, stored] of found) {
      const key = this.#rows.keyOf(text);
      if (key === undefined) continue;
      let value: V;
      try {
        value = this.#g.decode(text, stored) as V;
      } catch (error) {
        if (!(error instanceof SerializationError)) throw error;
        failures.push(error);
        continue;
      }
      // A local write (or a newer read) since the query started wins.
      if (!this.#cache.writtenSince(key, mark) && this.#cache.known(key) === undefined)
        this.#cache.put(key, true, value, mark);
    }
    if (failures.length > 0) throw failures[0]!;
    this.#cache.completed();
  }

  /**
   * Sets `key` (stored as `text`, value encoded as `encoded`) in memory now
   * and writes it lazily; resolves when it (or a later value) is durable.
   */
  set(key: K, text: string, value: V, encoded: string, changeKey: C = this.#rows.changeKey(key)): Promise<void> {
    const before = this.#cache.known(key);
    this.#cache.write(key, true, value);
    this.#emit({ type: 'set', key: changeKey, value, previous: valueOf(before), origin: 'local' });
    return this.#writes.set(text, encoded);
  }

  /** Deletes `key` now in memory (a change only if it was not known absent), lazily in the database. */
  delete(key: K, text: string, changeKey: C = this.#rows.changeKey(key)): Promise<void> {
    const before = this.#cache.known(key);
    this.#cache.write(key, false);
    if (before?.present !== false) {
      this.#emit({ type: 'delete', key: changeKey, value: undefined, previous: valueOf(before), origin: 'local' });
    }
    return this.#writes.delete(text);
  }

  /** Empties the group now in memory, lazily in the database. */
  clear(): Promise<void> {
    this.#cache.clear(true);
    this.#emit({ type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'local' });
    return this.#writes.clear();
  }

  /** Resolves when every write made before the call is durable. */
  flush(): Promise<void> {
    return this.#writes.flush();
  }

  /** Waits until the log was read up to now and the re-reads that started have finished. */
  async settled(): Promise<void> {
    if (this.#unlisten) await (await this.#g.changeLog()).reader.caughtUp();
    while (this.#retries.size > 0) await Promise.all([...this.#retries]);
    await this.#reread.settled();
  }

  /**
   * The change log position to give back as `since` on a later start: what
   * other stores committed before the call has been read, and the changes
   * it made memory see have been emitted.
   */
  async position(): Promise<string> {
    const text = await this.#g.position();
    while (this.#retries.size > 0) await Promise.all([...this.#retries]);
    await this.#reread.settled();
    return text;
  }

  /** Flushes, stops listening and re-reading, releases the group's broker, completes `changes$`. */
  close(): Promise<void> {
    if (!this.#closing) for (const fn of [...this.#onClose]) fn();
    this.#closing ??= this.#g
      .shutdown(async () => {
        await this.#writes.flush().catch(() => undefined);
        this.#unlisten?.();
        this.#reread.stop();
      })
      .finally(() => this.#changes.complete());
    return this.#closing;
  }

  /** Re-reads the log asked for, tried again until it succeeds or the store closes (see untilRead). */
  #remote(reread: () => Promise<void>): void {
    const done = untilRead(reread, {
      stopped: () => this.#closing !== undefined,
      onStop: (fn) => {
        this.#onClose.add(fn);
        return () => void this.#onClose.delete(fn);
      },
    });
    this.#retries.add(done);
    void done.then(() => this.#retries.delete(done));
  }

  readonly #retries = new Set<Promise<void>>();
  /** What close() calls first: the pauses of re-reads tried again end then. */
  readonly #onClose = new Set<() => void>();

  #emit(change: Change<C, V>): void {
    this.#changes.next(change);
  }

  #batch(batch: WriteBatch) {
    return { statements: this.#rows.statements(batch), changes: batchChanges(batch) };
  }

  /** The keys stored texts are (texts that are no key of this store left out). */
  *#keysOf(texts: Iterable<string>): Iterable<K> {
    for (const text of texts) {
      const key = this.#rows.keyOf(text);
      if (key !== undefined) yield key;
    }
  }
}

const RESYNC = { type: 'resync', key: undefined, value: undefined, previous: undefined, origin: 'remote' } as const;

/** A batch as change log entries: the clear first, then each key's last write. */
function batchChanges(batch: WriteBatch): ChangeEntry[] {
  const entries: ChangeEntry[] = batch.cleared ? [{ name: null, op: 'clear' }] : [];
  for (const [name, write] of batch.writes) entries.push({ name, op: write === DELETED ? 'delete' : 'set' });
  return entries;
}

function valueOf<V>(known: Known<V>): V | undefined {
  return known?.present ? known.value : undefined;
}
