import type { ObjectLiteral } from 'typeorm';
import type { EntityHydrator } from '../dialect/typeorm/entity-hydration';
import type { RowSource } from './row-source';

/**
 * Entities read from a source of raw rows, a batch at a time: each read
 * takes up to `n` raw rows and returns the entities they complete.
 *
 * With `keyOf` (a join gives one entity several raw rows, adjacent), the
 * rows of the last entity of a batch may continue in the next one: they are
 * held back and read with it, so an entity is never split across two
 * batches nor delivered twice. Only that one entity's rows are carried
 * over: memory stays at about a batch. Closing closes the raw source (the
 * hydrator holds nothing between batches).
 */
export function entitySource<E>(
  raw: RowSource<ObjectLiteral>,
  hydrator: EntityHydrator<E>,
  keyOf: ((row: ObjectLiteral) => string) | undefined,
): RowSource<E> {
  let carried: ObjectLiteral[] = [];
  let exhausted = false;
  let closing: Promise<void> | undefined;
  /** The next raw rows whose entities are whole; [] only at the end. */
  const nextWhole = async (n: number): Promise<ObjectLiteral[]> => {
    for (;;) {
      if (exhausted) {
        const rest = carried;
        carried = [];
        return rest;
      }
      const fresh = await raw.read(n);
      if (fresh.length === 0) exhausted = true;
      else {
        const rows = carried.length > 0 ? carried.concat(fresh) : fresh;
        const cut = keyOf ? lastEntityStart(rows, keyOf) : rows.length;
        carried = rows.slice(cut);
        // All of it one entity that may go on: read on before hydrating it.
        if (cut > 0) return rows.slice(0, cut);
      }
    }
  };
  return {
    async read(n) {
      for (;;) {
        const rows = await nextWhole(n);
        if (rows.length === 0) return [];
        const entities = await hydrator.hydrate(rows);
        // Rows that make no entity (nothing of it selected): read on rather than end early.
        if (entities.length > 0) return entities;
      }
    },
    close: () => (closing ??= raw.close()),
    interrupt: raw.interrupt && (() => raw.interrupt!()),
  };
}

/** Where the rows of the last entity of `rows` start. */
function lastEntityStart(rows: ObjectLiteral[], keyOf: (row: ObjectLiteral) => string): number {
  const last = keyOf(rows[rows.length - 1]!);
  let start = rows.length - 1;
  while (start > 0 && keyOf(rows[start - 1]!) === last) start--;
  return start;
}
