import type { CacheBackend, CacheEntry } from './backend';

/**
 * Entries in a Map of this process: values kept by reference, never
 * serialized, so a hit costs one Map lookup. Nothing is shared with other
 * processes (no lock: the region's single flight covers this one).
 */
export class MemoryBackend implements CacheBackend {
  readonly #entries = new Map<string, CacheEntry>();

  get(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  /** The same as get: everything is in memory. */
  peek(key: string): CacheEntry | undefined {
    return this.#entries.get(key);
  }

  set(key: string, entry: CacheEntry): void {
    this.#entries.set(key, entry);
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }

  /** How many entries it holds (expired ones included, until replaced or deleted). */
  get size(): number {
    return this.#entries.size;
  }
}
