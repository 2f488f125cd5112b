import type { DataSource } from 'typeorm';
import { isDate, Withheld } from '../parameters';

/** The two calls of TypeORM's sqlite driver that rewrite values before they are bound. */
interface EscapingDriver {
  escapeQueryWithParameters(sql: string, parameters: object, native: object): [string, unknown[]];
  preparePersistentValue(value: unknown, column: unknown): unknown;
}

const WATCHED = Symbol('sasync.watchedValues');

/**
 * Makes TypeORM's sqlite driver hand values it would rewrite to sasync's
 * check instead: its QueryBuilder splices numbers into the SQL text (NaN
 * becomes a column name) and, like entity persistence, turns an invalid Date
 * into 'NaN-NaN-NaN …' text. Such values are passed on as {@link Withheld},
 * which `bindParameters` refuses with their position; everything else goes
 * through TypeORM unchanged.
 *
 * TypeORM internals: SqliteDriver's `escapeQueryWithParameters` and
 * `preparePersistentValue` are replaced on the live driver (public methods,
 * but TypeORM calls them for itself; there is no hook). Breaks if TypeORM
 * renames them or rewrites values elsewhere first: NaN and invalid Dates
 * would be stored rewritten instead of refused
 * (spec/dialect/bound-values.spec.ts, spec/dialect/bound-values-property.spec.ts).
 * Returns what puts TypeORM's own methods back.
 */
export function watchTypeormValues(ds: DataSource): () => void {
  const driver = ds.driver as unknown as EscapingDriver & { [WATCHED]?: true };
  if (driver[WATCHED]) return () => undefined;
  driver[WATCHED] = true;
  const escape = driver.escapeQueryWithParameters.bind(driver);
  driver.escapeQueryWithParameters = (sql, parameters, native) => escape(sql, withheld(parameters), withheld(native));
  const persistent = driver.preparePersistentValue.bind(driver);
  driver.preparePersistentValue = (value, column) =>
    rewritten(value) ? new Withheld(value) : persistent(value, column);
  // Back to the prototype's methods, for an app's DataSource sasync leaves.
  return () => {
    delete (driver as Partial<EscapingDriver>).escapeQueryWithParameters;
    delete (driver as Partial<EscapingDriver>).preparePersistentValue;
    delete driver[WATCHED];
  };
}

function rewritten(value: unknown): boolean {
  return (typeof value === 'number' && Number.isNaN(value)) || (isDate(value) && Number.isNaN(value.getTime()));
}

/** The same parameters, with the values TypeORM would rewrite withheld (the object itself when there are none). */
function withheld<T extends object>(parameters: T): T {
  if (!parameters || !Object.values(parameters).some(rewritten)) return parameters;
  return Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, rewritten(v) ? new Withheld(v) : v])) as T;
}
