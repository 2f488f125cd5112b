import type { Statement } from './statement';
import type { WriteBatch } from './write-queue';

/**
 * What a store tells its {@link CachedStore} about its rows: how its cache
 * keys are stored, how to read and write them, and how it reports them.
 * `K` is the cache's key, `C` the key changes carry.
 */
export interface StoreRows<K, V, C> {
  /** The key a stored key text names, or undefined when no key of this store is stored so. */
  keyOf(text: string): K | undefined;
  /** The key as stored. */
  textOf(key: K): string;
  /** How a change reports `key`. */
  changeKey(key: K): C;
  /** The stored values of some keys (at most ROWS_PER_STATEMENT), by key text; absent keys are missing. */
  readSome(texts: readonly string[]): Promise<Map<string, string>>;
  /** The stored value of every key of the group, by key text. */
  readAll(): Promise<Map<string, string>>;
  /** The statements that write a batch, keys in the unique index's order (so writers cannot deadlock). */
  statements(batch: WriteBatch): Statement[];
  /** Whether two values are the same (a re-read that finds one where the other was emits nothing). */
  same(a: V, b: V): boolean;
  /** Whether it hears other stores' writes of the group (and re-reads what they wrote). */
  readonly remote: boolean;
}
