import { Subject, type Observable } from 'rxjs';
import '../async-dispose';
import { clock } from '../clock';
import type { CacheBackend, CacheEntry } from './backend';
import { checkValue, createEntries, type KeyPair } from './creation';
import type { KeyMangler } from './keys';
import { MemoryBackend } from './memory-backend';
import { SingleFlight } from './single-flight';
import { checkTiming, freshness, isFresh, type CacheTiming, type Timing } from './timing';

/** Options of a {@link CacheRegion}: its backend, key mangler and default timing. */
export interface CacheRegionOptions extends CacheTiming {
  /** Where entries live (default: a new {@link MemoryBackend}). */
  readonly backend?: CacheBackend;
  /** Applied to every key before the backend sees it (e.g. {@link sha256KeyMangler}). */
  readonly keyMangler?: KeyMangler;
}

/** A creator that failed while callers were served the stale value (they saw no error). */
export interface CacheFailure {
  /** The key (for a multi-key call, its keys joined by ", "), as the caller gave it. */
  readonly key: string;
  /** What the creator threw (or the backend's error storing its value). */
  readonly error: unknown;
}

/**
 * A cache region (dogpile.cache's): values made by a creator, kept in a
 * backend, fresh for `expiration` ms, and never made twice at once. When a
 * value is missing, exactly one creator runs for its key (across processes
 * too, with a backend that has a lock) and every caller waits for it; when
 * it has expired, callers within `grace` get the stale value at once while
 * that one creator runs. A creator that throws releases the lock: the stale
 * value keeps being served until `grace` runs out, and then the callers see
 * the error (the failures they did not see are on {@link failures$}).
 *
 * ```ts
 * const region = new CacheRegion({ expiration: 60_000, grace: 600_000 });
 * const top = await region.getOrCreate('top-queries', () => expensiveReport());
 * ```
 */
export class CacheRegion<V = unknown> {
  readonly #backend: CacheBackend;
  readonly #timing: Timing;
  /** Undefined without a mangler: a key is then used as it is, with no call per lookup. */
  readonly #mangle: KeyMangler | undefined;
  readonly #flights = new SingleFlight<CacheEntry<V>>();
  readonly #failures = new Subject<CacheFailure>();
  /** The last frozen per-call options and their checked timing: cacheOn passes the same object every call. */
  #lastOptions: CacheTiming | undefined;
  #lastTiming: Timing | undefined;

  /** @throws RangeError for an expiration or grace out of range. */
  constructor(options: CacheRegionOptions = {}) {
    this.#timing = checkTiming(options, { expiration: Infinity, grace: Infinity });
    this.#backend = options.backend ?? new MemoryBackend();
    const mangler = options.keyMangler;
    if (mangler !== undefined && typeof mangler !== 'function') {
      throw new TypeError('keyMangler must be a function (key) => string');
    }
    this.#mangle = mangler;
  }

  /** The backend, as given (or the region's own MemoryBackend). */
  get backend(): CacheBackend {
    return this.#backend;
  }

  /** Creators that failed while their callers were served a stale value. */
  get failures$(): Observable<CacheFailure> {
    return this.#failures.asObservable();
  }

  /**
   * The value of `key`: fresh from the backend, or stale within `grace`
   * (while one creator makes the new one), or else the new value from the
   * one creator running for the key, however many callers ask at once.
   * @throws RangeError (at once) for an expiration or grace out of range;
   *   rejects with the creator's error, or SerializationError for a value
   *   the backend cannot keep (undefined, a function…): nothing is cached.
   */
  getOrCreate(key: string, creator: () => V | Promise<V>, options?: CacheTiming): Promise<V> {
    const timing = this.#timingOf(options);
    if (typeof creator !== 'function') throw new TypeError('getOrCreate needs a creator function');
    const mangled = this.#mangled(key);
    const found = this.#backend.get(mangled);
    // The hit path: no allocation but the answer's Promise, no clock read for entries that never
    // expire, no await (a memory hit answers with one resolved Promise).
    if (found !== undefined && !isPromise(found) && isFresh(found.createdAt, timing)) {
      return Promise.resolve(found.value as V);
    }
    const pair = { key, mangled };
    return isPromise(found)
      ? found.then((entry) => this.#answer(pair, entry as CacheEntry<V> | undefined, creator, timing))
      : this.#answer(pair, found as CacheEntry<V> | undefined, creator, timing);
  }

  /**
   * The values of `keys`, in order, with at most one creator call: `creator`
   * gets exactly the keys that are missing or expired (and not being made
   * already) and returns their values in the same order. If every such key
   * is stale within `grace`, the stale values are returned at once and the
   * call runs meanwhile.
   */
  async getOrCreateMulti(
    keys: readonly string[],
    creator: (keys: string[]) => readonly V[] | Promise<readonly V[]>,
    options?: CacheTiming,
  ): Promise<V[]> {
    const timing = this.#timingOf(options);
    if (!Array.isArray(keys)) throw new TypeError('getOrCreateMulti needs an array of keys');
    if (typeof creator !== 'function') throw new TypeError('getOrCreateMulti needs a creator function');
    const pairs = keys.map((k): KeyPair => ({ key: k, mangled: this.#mangled(k) }));
    const found = await Promise.all(pairs.map((p) => this.#backend.get(p.mangled)));
    const now = clock.now();
    const states = found.map((e) => (e ? freshness(e.createdAt, now, timing) : 'dead'));
    const toMake = new Map<string, KeyPair>();
    pairs.forEach((p, i) => {
      if (states[i] !== 'fresh' && !this.#flights.running(p.mangled)) toMake.set(p.mangled, p);
    });
    if (toMake.size > 0) {
      const batch = createEntries<V>(this.#backend, [...toMake.values()], async (k) => creator(k), timing);
      for (const mangled of toMake.keys()) {
        this.#flights.join(
          mangled,
          batch.then((made) => made.get(mangled)!),
        );
      }
      // Its callers see its error only when they wait for it; otherwise it goes to failures$.
      if (states.every((s) => s !== 'dead')) this.#watch([...toMake.values()].map((p) => p.key).join(', '), batch);
      else batch.catch(() => undefined);
    }
    const serveStale = states.every((s) => s !== 'dead');
    if (serveStale) {
      return found.map((e) => (e as CacheEntry<V>).value);
    }
    return Promise.all(
      pairs.map((p, i) =>
        states[i] === 'fresh'
          ? (found[i] as CacheEntry<V>).value
          : this.#flights.running(p.mangled)!.then((e) => e.value),
      ),
    );
  }

  /**
   * The fresh value of `key` if the backend has it at hand (a memory hit),
   * else undefined; synchronous, and it never runs a creator. The hot path
   * of a cache read, which an awaited call cannot match (an `await` costs
   * more than a Map lookup):
   *
   * ```ts
   * const top = region.peek('top') ?? (await region.getOrCreate('top', makeTop));
   * ```
   *
   * Undefined also for a stale value (getOrCreate serves it and starts the
   * one creator) and for a value not in memory: it never reads the database
   * (it asks the backend's `peek`; a backend without one is asked `get`, and
   * an asynchronous answer counts as not at hand).
   * @throws TypeError for an empty key; RangeError for a timing out of range.
   */
  peek(key: string, options?: CacheTiming): V | undefined {
    const timing = this.#timingOf(options);
    const mangled = this.#mangled(key);
    const backend = this.#backend;
    const found = backend.peek ? backend.peek(mangled) : backend.get(mangled);
    if (found === undefined || isPromise(found)) {
      // A read nobody waits for (a backend without peek): its failure must not go unhandled.
      if (found !== undefined) found.then(undefined, () => undefined);
      return undefined;
    }
    return isFresh(found.createdAt, timing) ? (found.value as V) : undefined;
  }

  /** The fresh value of `key`, or undefined when it is missing or expired. Never runs a creator. */
  async get(key: string, options?: CacheTiming): Promise<V | undefined> {
    const timing = this.#timingOf(options);
    const entry = await this.#backend.get(this.#mangled(key));
    return entry && freshness(entry.createdAt, clock.now(), timing) === 'fresh' ? (entry.value as V) : undefined;
  }

  /** Stores `value` as the fresh value of `key`. Rejects with SerializationError for a value the backend cannot keep. */
  async set(key: string, value: V): Promise<void> {
    checkValue(key, value);
    await this.#backend.set(this.#mangled(key), { value, createdAt: clock.now() });
  }

  /** Removes `key`, or without a key every entry of the backend: the next caller waits for a creator. */
  async invalidate(key?: string): Promise<void> {
    if (key === undefined) await this.#backend.clear();
    else await this.#backend.delete(this.#mangled(key));
  }

  /**
   * Waits for the creators running (their values are stored, their locks
   * released), then completes {@link failures$} and closes the backend
   * (releasing its connections, if any).
   */
  async close(): Promise<void> {
    await this.#flights.settled();
    this.#failures.complete();
    await this.#backend.close?.();
  }

  /** {@link close}, for `await using region = new CacheRegion(…)`: closed when the block is left. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #answer(pair: KeyPair, entry: CacheEntry<V> | undefined, creator: () => V | Promise<V>, timing: Timing): Promise<V> {
    const state = entry ? freshness(entry.createdAt, clock.now(), timing) : 'dead';
    if (state === 'fresh') return Promise.resolve(entry!.value);
    let flight = this.#flights.running(pair.mangled);
    if (!flight) {
      flight = createEntries<V>(this.#backend, [pair], async () => [await creator()], timing).then((made) =>
        made.get(pair.mangled)!,
      );
      this.#flights.join(pair.mangled, flight);
      // Once per creation, not per caller served the stale value.
      if (state === 'stale') this.#watch(pair.key, flight);
    }
    return state === 'dead' ? flight.then((e) => e.value) : Promise.resolve(entry!.value);
  }

  /** A creation whose callers were served a stale value: its failure goes to failures$, not unhandled. */
  #watch(key: string, flight: Promise<unknown> | undefined): void {
    flight?.catch((error: unknown) => this.#failures.next({ key, error }));
  }

  /** The timing of a call: the region's, or `options` over it (checked once for a frozen options object). */
  #timingOf(options: CacheTiming | undefined): Timing {
    if (options === undefined) return this.#timing;
    if (options === this.#lastOptions) return this.#lastTiming!;
    const timing = checkTiming(options, this.#timing);
    // Only a frozen object can be trusted to say the same at the next call.
    if (Object.isFrozen(options)) [this.#lastOptions, this.#lastTiming] = [options, timing];
    return timing;
  }

  /** `key` as the backend sees it. @throws TypeError for an empty key, or one the mangler makes empty. */
  #mangled(key: string): string {
    if (typeof key !== 'string' || key.length === 0) {
      throw new TypeError(`a cache key must be a non-empty string, not ${typeof key === 'string' ? '""' : typeof key}`);
    }
    if (this.#mangle === undefined) return key;
    const mangled = this.#mangle(key);
    if (typeof mangled !== 'string' || mangled.length === 0) {
      throw new TypeError(
        `the keyMangler turned ${JSON.stringify(key)} into ${typeof mangled}, not a non-empty string`,
      );
    }
    return mangled;
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | undefined)?.then === 'function';
}
