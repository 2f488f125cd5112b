import '../async-dispose';
import type { DatabaseTarget } from '../target';
import { ItemSql } from './item-sql';
import { slices, type Statement } from './statement';
import { Missing } from './missing';
import { StoreGroup } from './store-group';
import type { ItemOptions } from './store-options';
import { ITEMS_TABLE } from './tables';
import { storedOrder } from './write-order';

/**
 * Persistent `name: value` items of one group (sAsync's Items): every call is
 * its own transaction, through the broker's queue. Values go through the
 * serializer; names are strings or, with `nameType: 'number'`, numbers.
 *
 * ```ts
 * const items = new Items('settings', 'sqlite::memory:');
 * await items.insert('theme', { dark: true });
 * await items.load('theme'); // { dark: true }
 * await items.shutdown();
 * ```
 */
export class Items<K extends string | number = string, V = unknown> implements AsyncDisposable {
  readonly #g: StoreGroup;
  readonly #sql: ItemSql;

  /**
   * @param groupId a string or finite number; 7 and '7' are one group.
   * @param target without one, {@link AccessBroker.setup}'s.
   * @throws TypeError for a group id of another type; DatabaseError for a bad target.
   */
  constructor(groupId: string | number, target?: DatabaseTarget, options?: ItemOptions) {
    this.#g = new StoreGroup('Items', groupId, target, options, ITEMS_TABLE);
    this.#sql = new ItemSql(this.#g.group, (n) => this.#g.placeholder(n));
  }

  /** The group id as stored. */
  get group(): string {
    return this.#g.group;
  }

  /**
   * Resolves when the store is ready (its broker started and its table exists); rejects
   * if start-up failed. A later call tries the start-up again, after a backoff.
   */
  waitUntilRunning(): Promise<void> {
    return this.#g.waitUntilRunning();
  }

  /** The value of `name`, or a {@link Missing} when there is none. */
  async load(name: K): Promise<V | Missing> {
    this.#g.assertOpen('load()');
    const text = this.#g.key(name);
    const [row] = await this.#g.read<{ value: string }>(this.#sql.load(text));
    return row ? (this.#g.decode(text, row.value) as V) : new Missing(this.#g.group, name);
  }

  /** Every item of the group; keys of the store's name type. */
  async loadAll(): Promise<Map<K, V>> {
    this.#g.assertOpen('loadAll()');
    const rows = await this.#g.read<{ name: string; value: string }>(this.#sql.loadAll());
    return new Map(rows.map((r) => [this.#g.keyOf<K>(r.name), this.#g.decode(r.name, r.value) as V]));
  }

  /** Adds an item; fails with TransactionError if `name` exists (use {@link update}). */
  insert(name: K, value: V): Promise<void> {
    return this.#write('insert()', name, value, (text, encoded) => this.#sql.insert(text, encoded));
  }

  /** Overwrites an item's value; does nothing if there is no such item. */
  update(name: K, value: V): Promise<void> {
    return this.#write('update()', name, value, (text, encoded) => this.#sql.update(text, encoded));
  }

  /** Deletes the named items (missing ones are ignored), in one transaction. */
  async delete(...names: K[]): Promise<void> {
    this.#g.assertOpen('delete()');
    // In the index's order: two deleters of the same items cannot deadlock each other.
    const texts = [...new Set(names.map((n) => this.#g.key(n)))].sort(storedOrder);
    if (texts.length === 0) return;
    await this.#g.write(() => ({
      statements: [...slices(texts)].map((some) => this.#sql.delete(some)),
      changes: texts.map((name) => ({ name, op: 'delete' as const })),
    }));
  }

  /** The names of the group's items, as the store's name type. */
  async names(): Promise<K[]> {
    this.#g.assertOpen('names()');
    const rows = await this.#g.read<{ name: string }>(this.#sql.names());
    return rows.map((r) => this.#g.keyOf<K>(r.name));
  }

  /** Waits for work under way, then releases the connection (the last user closes it). */
  shutdown(): Promise<void> {
    return this.#g.shutdown();
  }

  /** {@link shutdown}, for `await using items = new Items(…)`: released when the block is left. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #write(
    what: string,
    name: K,
    value: V,
    statement: (text: string, encoded: string) => Statement,
  ): Promise<void> {
    this.#g.assertOpen(what);
    const text = this.#g.key(name);
    const encoded = this.#g.encode(value);
    await this.#g.write(() => ({ statements: [statement(text, encoded)], changes: [{ name: text, op: 'set' }] }));
  }
}
