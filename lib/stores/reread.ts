import type { Change } from './change';
import type { StoreCache } from './store-cache';
import { slices } from './statement';

/** What a {@link Reread} needs of its store. */
export interface RereadHost<K, V> {
  readonly cache: StoreCache<K, V>;
  /** The key a stored key text names, or undefined when no key of this store is stored so. */
  keyOf(text: string): K | undefined;
  /** The key as stored. */
  textOf(key: K): string;
  /** The stored values of some keys (at most ROWS_PER_STATEMENT), by key text; absent keys are missing. */
  readSome(texts: readonly string[]): Promise<Map<string, string>>;
  /** The stored value of every key of the group, by key text. */
  readAll(): Promise<Map<string, string>>;
  /** @throws SerializationError for a stored value this store cannot read. */
  decode(text: string, stored: string): V;
  /** Whether a local write of this key is not yet durable (it wins over what was read). */
  pending(text: string): boolean;
  /** Emits a change; `key` is the cache's key (undefined for 'clear'). */
  emit(change: Change<K, V>): void;
  /** Whether two values are the same (a change from one to the other is not emitted). */
  same(a: V, b: V): boolean;
}

/**
 * Makes a store's memory agree with its table again, by reading the table:
 * after a notice from another store (a hint, never data: see noticeHint),
 * after the listening connection was down, and after a write of this store
 * failed. Reads land in any order: what was read is taken unless a local
 * write or a later read of the key is newer, and each difference is emitted.
 */
export class Reread<K, V> {
  readonly #inflight = new Set<Promise<void>>();
  #group: Promise<void> | undefined;
  #groupAgain = false;
  #whole = false;
  #stopped = false;

  constructor(private readonly host: RereadHost<K, V>) {}

  /** Reads these keys again (texts that are no key of this store are skipped). */
  keys(texts: readonly string[], origin: Change<K, V>['origin']): Promise<void> {
    return this.#track(this.#readKeys(texts, origin));
  }

  /**
   * Reads again every key memory knows (every key of the group once memory
   * knows them all, or with `whole`: a store told what changed since a
   * saved position reports every key it finds). Calls while one runs share
   * one more run after it, so a flood of notices costs two reads, and each
   * caller's read started after its call.
   */
  group(origin: Change<K, V>['origin'], whole = false): Promise<void> {
    this.#whole ||= whole;
    if (this.#group) {
      this.#groupAgain = true;
      return this.#group;
    }
    const run = (async () => {
      do {
        this.#groupAgain = false;
        const all = this.#whole;
        this.#whole = false;
        await this.#readGroup(origin, all);
      } while (this.#groupAgain && !this.#stopped);
    })().finally(() => {
      this.#group = undefined;
    });
    this.#group = run;
    return this.#track(run);
  }

  /** Resolves once no read started before (or while) waiting is running. */
  async settled(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Takes nothing read from now on (the store is shutting down). */
  stop(): void {
    this.#stopped = true;
  }

  #track(work: Promise<void>): Promise<void> {
    this.#inflight.add(work);
    const done = work.finally(() => this.#inflight.delete(work));
    done.catch(() => undefined);
    return done;
  }

  async #readKeys(texts: readonly string[], origin: Change<K, V>['origin']): Promise<void> {
    const keys = new Map<string, K>();
    for (const text of texts) {
      const key = this.host.keyOf(text);
      if (key !== undefined) keys.set(text, key);
    }
    for (const some of slices([...keys.keys()])) {
      if (this.#stopped) return;
      const mark = this.host.cache.mark();
      const found = await this.host.readSome(some);
      for (const text of some) this.#take(keys.get(text)!, text, found.get(text), mark, origin);
    }
  }

  async #readGroup(origin: Change<K, V>['origin'], whole: boolean): Promise<void> {
    const { cache } = this.host;
    const known = [...cache.keys(), ...cache.absentKeys()];
    if (this.#stopped || (known.length === 0 && !cache.complete && !whole)) return;
    const mark = cache.mark();
    const found = await this.host.readAll();
    if (this.#stopped) return;
    if (found.size === 0 && this.#emptied(mark, origin)) return;
    const keys = new Map<string, K>(known.map((key) => [this.host.textOf(key), key]));
    if (cache.complete || whole) {
      for (const text of found.keys()) {
        const key = this.host.keyOf(text);
        if (key !== undefined) keys.set(text, key);
      }
    }
    for (const [text, key] of keys) this.#take(key, text, found.get(text), mark, origin);
  }

  /**
   * The table has no row of the group: if nothing in memory is newer than
   * the read, memory becomes empty and complete, and one 'clear' is emitted.
   */
  #emptied(mark: number, origin: Change<K, V>['origin']): boolean {
    const { cache } = this.host;
    if (![...cache.keys()].every((key) => this.#free(key, this.host.textOf(key), mark))) return false;
    // Keys it did not know may have been there too.
    const had = cache.size > 0 || !cache.complete;
    cache.clear(false);
    cache.clearedRemotely(mark);
    if (had) this.host.emit({ type: 'clear', key: undefined, value: undefined, previous: undefined, origin });
    return true;
  }

  /** Whether what a read started at `mark` found of `key` may replace what memory holds. */
  #free(key: K, text: string, mark: number): boolean {
    const { cache } = this.host;
    return !this.host.pending(text) && !cache.writtenSince(key, mark) && !cache.readSince(key, mark);
  }

  /** Takes what was read of `key` unless something newer is in memory, and emits it if it differs. */
  #take(key: K, text: string, stored: string | undefined, mark: number, origin: Change<K, V>['origin']): void {
    const { cache } = this.host;
    if (this.#stopped || !this.#free(key, text, mark)) return;
    let value: V | undefined;
    if (stored !== undefined) {
      try {
        value = this.host.decode(text, stored);
      } catch {
        // A value this store cannot read: forget it, so that get() reports it.
        cache.forget(key);
        return;
      }
    }
    const present = stored !== undefined;
    const before = cache.known(key);
    cache.put(key, present, value, mark);
    if (present && before?.present && this.host.same(before.value, value as V)) return;
    if (!present && before?.present === false) return;
    const previous = before?.present ? before.value : undefined;
    this.host.emit(
      present
        ? { type: 'set', key, value, previous, origin }
        : { type: 'delete', key, value: undefined, previous, origin },
    );
  }
}
