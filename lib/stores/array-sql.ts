import type { Statement } from './statement';
import { ARRAY_TABLE } from './tables';
import { storedOrder } from './write-order';
import { DELETED, type WriteBatch } from './write-queue';

const T = ARRAY_TABLE.name;

/** An element's place as stored: the three coordinate texts. */
export type Place = readonly [string, string, string];

/** The statements of `sasync_array` for one group; values always bound. */
export class ArraySql {
  constructor(
    readonly group: string,
    private readonly p: (n: number) => string,
  ) {}

  /** Some places' values (at most ROWS_PER_STATEMENT places); absent ones have no row. */
  loadSome(places: readonly Place[]): Statement {
    const parameters: unknown[] = [this.group];
    const tuples = places.map((place) => {
      const n = parameters.push(...place);
      return `(${this.p(n - 2)}, ${this.p(n - 1)}, ${this.p(n)})`;
    });
    return {
      sql: `SELECT x, y, z, value FROM ${T} WHERE group_id = ${this.p(1)} AND (x, y, z) IN (${tuples.join(', ')})`,
      parameters,
    };
  }

  loadAll(): Statement {
    return { sql: `SELECT x, y, z, value FROM ${T} WHERE group_id = ${this.p(1)}`, parameters: [this.group] };
  }

  upsert([x, y, z]: Place, text: string): Statement {
    const { p } = this;
    return {
      sql:
        `INSERT INTO ${T} (group_id, x, y, z, value) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}) ` +
        'ON CONFLICT (group_id, x, y, z) DO UPDATE SET value = excluded.value',
      parameters: [this.group, x, y, z, text],
    };
  }

  delete([x, y, z]: Place): Statement {
    const { p } = this;
    return {
      sql: `DELETE FROM ${T} WHERE group_id = ${p(1)} AND x = ${p(2)} AND y = ${p(3)} AND z = ${p(4)}`,
      parameters: [this.group, x, y, z],
    };
  }

  clear(): Statement {
    return { sql: `DELETE FROM ${T} WHERE group_id = ${this.p(1)}`, parameters: [this.group] };
  }

  /** One statement per element, in the unique index's order (see storedOrder). */
  writes(batch: WriteBatch): Statement[] {
    const statements = batch.cleared ? [this.clear()] : [];
    const order = [...batch.writes.keys()].map((key) => [key, JSON.parse(key) as Place] as const);
    order.sort(([, a], [, b]) => storedOrder(a[0], b[0]) || storedOrder(a[1], b[1]) || storedOrder(a[2], b[2]));
    for (const [key, place] of order) {
      const write = batch.writes.get(key)!;
      statements.push(write === DELETED ? this.delete(place) : this.upsert(place, write));
    }
    return statements;
  }
}
