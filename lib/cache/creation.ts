import { clock } from '../clock';
import { SerializationError } from '../errors';
import type { CacheBackend, CacheEntry, CacheLock } from './backend';
import { freshness, type Timing } from './timing';

/** A key as the caller gave it and as the backend sees it. */
export interface KeyPair {
  readonly key: string;
  readonly mangled: string;
}

/**
 * Makes the entries of `pairs` with one creator call: takes each key's
 * lock (in one order, so two batches cannot deadlock), reads what the
 * previous holder may have made meanwhile, calls `create` with the keys
 * that are still not fresh, checks every value before storing any, stores
 * them, and releases the locks on every exit path.
 */
export async function createEntries<V>(
  backend: CacheBackend,
  pairs: readonly KeyPair[],
  create: (keys: string[]) => Promise<readonly V[]>,
  timing: Timing,
): Promise<Map<string, CacheEntry<V>>> {
  const sorted = [...pairs].sort((a, b) => (a.mangled < b.mangled ? -1 : a.mangled > b.mangled ? 1 : 0));
  const locks: CacheLock[] = [];
  try {
    if (backend.lock) for (const p of sorted) locks.push(await backend.lock(p.mangled));
    const made = new Map<string, CacheEntry<V>>();
    const missing: KeyPair[] = [];
    for (const p of sorted) {
      const current = await (backend.getFresh ? backend.getFresh(p.mangled) : backend.get(p.mangled));
      if (current && freshness(current.createdAt, clock.now(), timing) === 'fresh') {
        made.set(p.mangled, current as CacheEntry<V>);
      } else missing.push(p);
    }
    if (missing.length === 0) return made;
    const values = await create(missing.map((p) => p.key));
    if (!Array.isArray(values) || values.length !== missing.length) {
      throw new TypeError(
        `a multi-key creator must return an array of one value per key it was given, in order ` +
          `(${missing.length} keys); it returned ${Array.isArray(values) ? `${values.length} values` : typeof values}. Nothing was cached.`,
      );
    }
    missing.forEach((p, i) => checkValue(p.key, values[i]));
    const createdAt = clock.now();
    const entries = missing.map((p, i) => [p.mangled, { value: values[i]!, createdAt }] as const);
    if (backend.setMany) await backend.setMany(entries);
    else for (const [key, entry] of entries) await backend.set(key, entry);
    for (const [key, entry] of entries) made.set(key, entry);
    return made;
  } finally {
    // Every lock taken is released, in the reverse order, whatever happened.
    for (const lock of locks.reverse()) await lock.release().catch(() => undefined);
  }
}

/** @throws SerializationError for `undefined`, which a cache cannot tell from "no entry". */
export function checkValue(key: string, value: unknown): void {
  if (value === undefined) {
    throw new SerializationError(
      `the creator of cache key ${JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key)} returned undefined, ` +
        'which a cache cannot tell from "no entry": return null for "nothing", or throw. Nothing was cached.',
    );
  }
}
