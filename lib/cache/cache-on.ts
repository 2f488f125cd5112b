import type { CacheRegion } from './cache-region';
import { jsonKeyMaker, type KeyMaker } from './keys';
import { checkTiming, type CacheTiming } from './timing';

/** Defaults that pass the range check, for checking given options alone. */
const UNSET = { expiration: Infinity, grace: Infinity };

/** Options of {@link cacheOn} and {@link cached}. */
export interface CacheOnOptions extends CacheTiming {
  /** The first part of every key (default: the function's name; required for an anonymous function). */
  readonly namespace?: string;
  /** Makes a key of the namespace and the arguments (default {@link jsonKeyMaker}). */
  readonly keyMaker?: KeyMaker;
}

/** A function cached by {@link cacheOn}: call it as the original, and invalidate one call's entry. */
export interface CachedFunction<A extends unknown[], V> {
  (...args: A): Promise<V>;
  /** Removes the entry of these arguments: the next call runs the function again. */
  invalidate(...args: A): Promise<void>;
  /** The key these arguments are cached under (before the region's mangler). */
  key(...args: A): string;
}

/**
 * Wraps `fn` so that its results are cached in `region` by its arguments
 * (dogpile.cache's `cache_on_arguments`): the key is made of the namespace
 * and the arguments, and a call is the region's `getOrCreate` of that key
 * with `fn` as the creator: one run however many callers ask at once.
 *
 * ```ts
 * const topQueries = cacheOn(region, async (limit: number) => report.top(limit), { expiration: 60_000 });
 * await topQueries(10); // runs report.top(10) once
 * await topQueries(10); // from the cache
 * await topQueries.invalidate(10);
 * ```
 * @throws TypeError for an anonymous function without a namespace; RangeError for timing out of range.
 */
export function cacheOn<A extends unknown[], V>(
  region: CacheRegion<V>,
  fn: (...args: A) => V | Promise<V>,
  options: CacheOnOptions = {},
): CachedFunction<A, V> {
  if (typeof fn !== 'function') throw new TypeError('cacheOn caches a function');
  const { namespace = fn.name, keyMaker = jsonKeyMaker, expiration, grace } = options;
  // Frozen: the region then checks it once, not at every call.
  const timing = Object.freeze({ expiration, grace });
  if (!namespace) throw new TypeError('cacheOn needs a namespace for an anonymous function: pass { namespace }');
  const hasTiming = timing.expiration !== undefined || timing.grace !== undefined;
  // Checked here, so that a bad option fails when wrapping, not at the first call.
  if (hasTiming) checkTiming(timing, UNSET);
  const key = (...args: A) => keyMaker(namespace, args);
  const cachedFn = (...args: A) => region.getOrCreate(key(...args), () => fn(...args), hasTiming ? timing : undefined);
  return Object.assign(cachedFn, { invalidate: (...args: A) => region.invalidate(key(...args)), key });
}

/**
 * The decorator form of {@link cacheOn}, for a method: `@cached(region)`.
 * The key is `Class.method` and the arguments (`this` is not part of it:
 * every instance shares the entries).
 *
 * ```ts
 * class Reports {
 *   @cached(region, { expiration: 60_000 })
 *   async top(limit: number): Promise<string[]> { … }
 * }
 * ```
 */
export function cached<V>(region: CacheRegion<V>, options: CacheOnOptions = {}): MethodDecorator {
  return (target, key, descriptor: PropertyDescriptor) => {
    const original = descriptor.value as (...args: unknown[]) => V | Promise<V>;
    if (typeof original !== 'function') throw new TypeError(`@cached decorates methods; ${String(key)} is not one`);
    const className = (typeof target === 'function' ? target : target.constructor).name;
    const namespace = options.namespace ?? `${className}.${String(key)}`;
    const { keyMaker = jsonKeyMaker, expiration, grace } = options;
    // Frozen: the region then checks it once, not at every call.
    const timing = expiration !== undefined || grace !== undefined ? Object.freeze({ expiration, grace }) : undefined;
    if (timing) checkTiming(timing, UNSET);
    descriptor.value = function cachedMethod(this: unknown, ...args: unknown[]): Promise<V> {
      return region.getOrCreate(keyMaker(namespace, args), () => original.apply(this, args), timing);
    };
  };
}
