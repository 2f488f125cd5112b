import type { ItemSql } from './item-sql';
import type { StoreGroup } from './store-group';
import type { StoreRows } from './store-rows';

type Row = { name: string; value: string };

/**
 * A PersistentDict's rows: its keys stored as `name` in `sasync_items`,
 * changes reported by key, and what other stores write heard and re-read.
 */
export function dictRows<K, V>(g: StoreGroup, sql: ItemSql): StoreRows<K, V, K> {
  return {
    keyOf: (text) => keyOf<K>(g, text),
    textOf: (key) => g.key(key),
    changeKey: (key) => key,
    readSome: async (texts) => byName(await g.read<Row>(sql.loadSome(texts))),
    readAll: async () => byName(await g.read<Row>(sql.loadAll())),
    statements: (batch) => sql.writes(batch),
    same: (a, b) => Object.is(a, b) || sameText(g, a, b),
    remote: true,
  };
}

/** Whether two values are stored as the same text (false when either cannot be encoded). */
export function sameText(g: StoreGroup, a: unknown, b: unknown): boolean {
  try {
    return g.encode(a) === g.encode(b);
  } catch {
    return false;
  }
}

/** The key a stored name is, or undefined when no key of this dict is stored so. */
function keyOf<K>(g: StoreGroup, text: string): K | undefined {
  try {
    const key = g.keyOf<K>(text);
    return g.key(key) === text ? key : undefined;
  } catch {
    return undefined;
  }
}

function byName(rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [r.name, r.value]));
}
