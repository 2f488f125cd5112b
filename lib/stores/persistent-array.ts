import '../async-dispose';
import type { Observable } from 'rxjs';
import type { DatabaseTarget } from '../target';
import { arrayRows } from './array-rows';
import { ArraySql } from './array-sql';
import { attempt } from './attempt';
import { CachedStore, remoteSettled } from './cached-store';
import type { Change } from './change';
import { coordinateText, type Coordinate, type Coordinates } from './coordinates';
import { StoreGroup } from './store-group';
import type { StoreOptions } from './store-options';
import { ARRAY_TABLE } from './tables';

export type { Coordinates } from './coordinates';

/**
 * A persistent three-dimensional array (sAsync's PersistentArray): elements
 * at (x, y, z), each coordinate a string, a number or null, kept in memory
 * once read or written and written lazily like a PersistentDict's items.
 *
 * ```ts
 * const grid = new PersistentArray<number>('board', 'sqlite::memory:');
 * await grid.set(0, 1, null, 42);
 * await grid.get(0, 1, null); // 42
 * await grid.shutdown();
 * ```
 */
export class PersistentArray<V = unknown> implements AsyncDisposable {
  readonly #g: StoreGroup;
  /** Keyed by the place as one text (see arrayRows). */
  readonly #store: CachedStore<string, V, Coordinates>;

  /**
   * @param id the group id: a string or finite number.
   * @throws TypeError for a group id of another type or bad options.
   */
  constructor(id: string | number, target?: DatabaseTarget, options?: StoreOptions) {
    this.#g = new StoreGroup('PersistentArray', id, target, options, ARRAY_TABLE);
    const sql = new ArraySql(this.#g.group, (n) => this.#g.placeholder(n));
    this.#store = new CachedStore(this.#g, arrayRows<V>(this.#g, sql));
  }

  /** Waits until the change log was read up to now and the re-reads it (or failed writes) started have finished. */
  [remoteSettled](): Promise<void> {
    return this.#store.settled();
  }

  /**
   * Every set, delete and clear, made through this array (`origin: 'local'`)
   * or by another store on the group, in this process or another (`'remote'`,
   * from the change log); completes on shutdown.
   */
  get changes$(): Observable<Change<Coordinates, V>> {
    return this.#store.changes$;
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
   * const again = new PersistentArray('board', target, { since: saved });
   * again.changes$.subscribe((c) => console.log(c.type, c.key)); // what changed meanwhile, then on
   * ```
   */
  position(): Promise<string> {
    return attempt(() => {
      this.#g.assertOpen('position()');
      return this.#store.position();
    });
  }

  /** The element at (x, y, z), or undefined where there is none. */
  async get(x: Coordinate, y: Coordinate, z: Coordinate): Promise<V | undefined> {
    this.#g.assertOpen('get()');
    const key = this.#key(x, y, z);
    const known = this.#store.cache.known(key) ?? (await this.#store.load(key, key));
    return known?.present ? known.value : undefined;
  }

  /** Sets an element now in memory, lazily in the database; resolves when durable. */
  set(x: Coordinate, y: Coordinate, z: Coordinate, value: V): Promise<void> {
    // Not async: the write's own Promise is returned, marked handled, so a
    // failed write nobody awaits cannot crash the process.
    return attempt(() => {
      this.#g.assertOpen('set()');
      const key = this.#key(x, y, z);
      return this.#store.set(key, key, value, this.#g.encode(value), [x, y, z] as const);
    });
  }

  /** Deletes an element (if it is there) now in memory, lazily in the database; resolves when durable. */
  delete(x: Coordinate, y: Coordinate, z: Coordinate): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('delete()');
      const key = this.#key(x, y, z);
      return this.#store.delete(key, key, [x, y, z] as const);
    });
  }

  /** Deletes every element of this array. */
  clear(): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('clear()');
      return this.#store.clear();
    });
  }

  /** Resolves when every write made before the call is durable. */
  flush(): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('flush()');
      return this.#store.flush();
    });
  }

  /** Flushes, completes `changes$` and releases the connection. */
  shutdown(): Promise<void> {
    return this.#store.close();
  }

  /** {@link shutdown}, for `await using grid = new PersistentArray(…)`: flushed and released when the block is left. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #key(x: Coordinate, y: Coordinate, z: Coordinate): string {
    const group = this.#g.group;
    return JSON.stringify([coordinateText(x, group), coordinateText(y, group), coordinateText(z, group)]);
  }
}
