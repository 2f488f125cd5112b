import type { ArraySql, Place } from './array-sql';
import { coordinateOf, type Coordinates } from './coordinates';
import type { StoreGroup } from './store-group';
import type { StoreRows } from './store-rows';

type Row = { x: string; y: string; z: string; value: string };

/**
 * A PersistentArray's rows in `sasync_array`: the cache is keyed by the
 * place as one text (the JSON of its three stored coordinates), which is
 * also the write queue's key and the name its change log entries carry;
 * changes report the coordinates. Other stores' writes of the group are
 * heard from the change log and re-read, as a dict's are.
 */
export function arrayRows<V>(g: StoreGroup, sql: ArraySql): StoreRows<string, V, Coordinates> {
  const readSome = async (keys: readonly string[]) =>
    byPlace(await g.read<Row>(sql.loadSome(keys.map((key) => JSON.parse(key) as Place))));
  return {
    keyOf: placeOf,
    textOf: (key) => key,
    changeKey: coordinatesOf,
    readSome,
    readAll: async () => byPlace(await g.read<Row>(sql.loadAll())),
    statements: (batch) => sql.writes(batch),
    same: (a, b) => Object.is(a, b),
    remote: true,
  };
}

/** The key a stored place text is: the JSON of three texts, exactly as this store writes it; else undefined. */
function placeOf(text: string): string | undefined {
  let place: unknown;
  try {
    place = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!Array.isArray(place) || place.length !== 3 || !place.every((c) => typeof c === 'string')) return undefined;
  return JSON.stringify(place) === text ? text : undefined;
}

function byPlace(rows: readonly Row[]): Map<string, string> {
  return new Map(rows.map((r) => [JSON.stringify([r.x, r.y, r.z]), r.value]));
}

function coordinatesOf(key: string): Coordinates {
  const [x, y, z] = JSON.parse(key) as Place;
  return [coordinateOf(x), coordinateOf(y), coordinateOf(z)];
}
