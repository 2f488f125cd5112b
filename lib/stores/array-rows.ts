import type { ArraySql, Place } from './array-sql';
import { coordinateOf, type Coordinates } from './coordinates';
import type { StoreGroup } from './store-group';
import type { StoreRows } from './store-rows';

type Row = { x: string; y: string; z: string; value: string };

/**
 * A PersistentArray's rows in `sasync_array`: the cache is keyed by the
 * place as one text (the JSON of its three stored coordinates), which is
 * also the write queue's key; changes report the coordinates. It hears no
 * other store (sAsync's array did not either).
 */
export function arrayRows<V>(g: StoreGroup, sql: ArraySql): StoreRows<string, V, Coordinates> {
  const readSome = async (keys: readonly string[]) =>
    byPlace(await g.read<Row>(sql.loadSome(keys.map((key) => JSON.parse(key) as Place))));
  return {
    keyOf: (text) => text,
    textOf: (key) => key,
    changeKey: coordinatesOf,
    readSome,
    readAll: async () => byPlace(await g.read<Row>(sql.loadAll())),
    statements: (batch) => sql.writes(batch),
    same: (a, b) => Object.is(a, b),
    remote: false,
  };
}

function byPlace(rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [JSON.stringify([r.x, r.y, r.z]), r.value]));
}

function coordinatesOf(key: string): Coordinates {
  const [x, y, z] = JSON.parse(key) as Place;
  return [coordinateOf(x), coordinateOf(y), coordinateOf(z)];
}
