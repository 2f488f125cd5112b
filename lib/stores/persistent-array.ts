import { Observable, Subject } from 'rxjs';
import type { DatabaseTarget } from '../target';
import { ArraySql, type Place } from './array-sql';
import type { Change } from './change';
import { coordinateOf, coordinateText, type Coordinate } from './coordinates';
import { DictCache, type Known } from './dict-cache';
import { KeyLoader } from './key-loader';
import { ARRAY_TABLE } from './store-broker';
import { attempt } from './attempt';
import { StoreGroup } from './store-group';
import type { StoreOptions } from './store-options';
import { Reread } from './reread';
import { DELETED, WriteQueue, type WriteBatch } from './write-queue';
import { storedOrder } from './write-order';

type Row = { x: string; y: string; z: string; value: string };

/** An element's coordinates. */
export type Coordinates = readonly [x: Coordinate, y: Coordinate, z: Coordinate];

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
export class PersistentArray<V = unknown> {
  readonly #g: StoreGroup;
  readonly #sql: ArraySql;
  /** Keyed by the place as one text, which is also the write queue's key. */
  readonly #cache = new DictCache<string, V>();
  readonly #writes: WriteQueue;
  readonly #loader: KeyLoader<string>;
  readonly #changes = new Subject<Change<Coordinates, V>>();
  readonly #reread: Reread<string, V>;
  #shutdown: Promise<void> | undefined;

  /**
   * @param id the group id: a string or finite number.
   * @throws TypeError for a group id of another type or bad options.
   */
  constructor(id: string | number, target?: DatabaseTarget, options?: StoreOptions) {
    this.#g = new StoreGroup('PersistentArray', id, target, options, ARRAY_TABLE);
    this.#sql = new ArraySql(this.#g.group, this.#g.placeholder);
    this.#writes = new WriteQueue(
      (take) => this.#g.write(() => this.#batch(take())),
      // A write that finally failed: memory shows the table again, then its Promise rejects.
      (batch) => (batch.cleared ? this.#reread.group('local') : this.#reread.keys([...batch.writes.keys()], 'local')),
      (batch) => this.#cache.durable(batch.writes.keys(), batch.cleared),
    );
    const readSome = async (keys: readonly string[]) =>
      placeMap(await this.#g.read<Row>(this.#sql.loadSome(keys.map((key) => JSON.parse(key) as Place))));
    this.#loader = new KeyLoader<string>({
      read: readSome,
      mark: () => this.#cache.mark(),
      apply: (key, stored, mark) => {
        // A local write (or a newer read) since the query started wins.
        if (this.#cache.known(key) !== undefined || this.#cache.writtenSince(key, mark)) return;
        if (stored === undefined) this.#cache.put(key, false, undefined, mark);
        else this.#cache.put(key, true, this.#g.decode(key, stored) as V, mark);
      },
    });
    this.#reread = new Reread<string, V>({
      cache: this.#cache,
      keyOf: (text) => text,
      textOf: (key) => key,
      readSome,
      readAll: async () => placeMap(await this.#g.read<Row>(this.#sql.loadAll())),
      decode: (text, stored) => this.#g.decode(text, stored) as V,
      pending: (text) => this.#writes.pending(text),
      emit: (change) =>
        this.#changes.next({ ...change, key: change.key === undefined ? undefined : coordinatesOf(change.key) }),
      same: (a, b) => Object.is(a, b),
    });
  }

  /** Every set, delete and clear made through this array; completes on shutdown. */
  get changes$(): Observable<Change<Coordinates, V>> {
    return this.#changes.asObservable();
  }

  /** The element at (x, y, z), or undefined where there is none. */
  async get(x: Coordinate, y: Coordinate, z: Coordinate): Promise<V | undefined> {
    this.#g.assertOpen('get()');
    const key = this.#key(x, y, z);
    if (this.#cache.known(key) === undefined) await this.#loader.load(key, key);
    const known = this.#cache.known(key);
    return known?.present ? known.value : undefined;
  }

  /** Sets an element now in memory, lazily in the database; resolves when durable. */
  set(x: Coordinate, y: Coordinate, z: Coordinate, value: V): Promise<void> {
    // Not async: the write's own Promise is returned, marked handled, so a
    // failed write nobody awaits cannot crash the process.
    return attempt(() => {
      this.#g.assertOpen('set()');
      const key = this.#key(x, y, z);
      const encoded = this.#g.encode(value);
      const before = this.#cache.known(key);
      this.#cache.write(key, true, value);
      this.#emit('set', [x, y, z], value, before);
      return this.#writes.set(key, encoded);
    });
  }

  delete(x: Coordinate, y: Coordinate, z: Coordinate): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('delete()');
      const key = this.#key(x, y, z);
      const before = this.#cache.known(key);
      this.#cache.write(key, false);
      if (before?.present !== false) this.#emit('delete', [x, y, z], undefined, before);
      return this.#writes.delete(key);
    });
  }

  /** Deletes every element of this array. */
  clear(): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('clear()');
      this.#cache.clear(true);
      this.#changes.next({ type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'local' });
      return this.#writes.clear();
    });
  }

  /** Resolves when every write made before the call is durable. */
  flush(): Promise<void> {
    return attempt(() => {
      this.#g.assertOpen('flush()');
      return this.#writes.flush();
    });
  }

  /** Flushes, completes `changes$` and releases the connection. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#g
      .shutdown(async () => {
        await this.#writes.flush().catch(() => undefined);
        this.#reread.stop();
      })
      .finally(() => this.#changes.complete());
    return this.#shutdown;
  }

  #key(x: Coordinate, y: Coordinate, z: Coordinate): string {
    const group = this.#g.group;
    return JSON.stringify([coordinateText(x, group), coordinateText(y, group), coordinateText(z, group)]);
  }

  #emit(type: 'set' | 'delete', place: Coordinates, value: V | undefined, before: Known<V>) {
    const previous = before?.present ? before.value : undefined;
    this.#changes.next({ type, key: place, value, previous, origin: 'local' });
  }

  /** One statement per element, in the unique index's order (see storedOrder). */
  #batch(batch: WriteBatch) {
    const statements = batch.cleared ? [this.#sql.clear()] : [];
    const order = [...batch.writes.keys()].map((key) => [key, JSON.parse(key) as Place] as const);
    order.sort(([, a], [, b]) => storedOrder(a[0], b[0]) || storedOrder(a[1], b[1]) || storedOrder(a[2], b[2]));
    for (const [key] of order) {
      const write = batch.writes.get(key)!;
      const place = JSON.parse(key) as Place;
      statements.push(write === DELETED ? this.#sql.delete(place) : this.#sql.upsert(place, write));
    }
    return { statements, notice: { ...(batch.cleared ? { c: 1 as const } : {}), k: [...batch.writes.keys()] } };
  }
}

function placeMap(rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [JSON.stringify([r.x, r.y, r.z]), r.value]));
}

function coordinatesOf(key: string): Coordinates {
  const [x, y, z] = JSON.parse(key) as Place;
  return [coordinateOf(x), coordinateOf(y), coordinateOf(z)];
}
