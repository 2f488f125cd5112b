/**
 * A value to bind as a postgres array, made by {@link array}. Plain
 * JavaScript arrays are refused as parameters: pg would send one as an array
 * literal (`{1,2}`) whatever the column is, so a text column would silently
 * store that text. This marker says that a postgres array is meant.
 */
export class ArrayParameter {
  /** The elements (a copy, frozen): scalars, or nested arrays of them for a multi-dimensional array. */
  readonly values: readonly unknown[];

  /** @internal Use {@link array}. */
  constructor(values: readonly unknown[]) {
    this.values = Object.freeze([...values]);
    Object.freeze(this);
  }
}

/**
 * Marks `values` to be bound as a postgres array, for `= ANY($1)`, `$1::int[]`
 * or an array column. Each element is checked as a parameter is (a string,
 * number, boolean, bigint, Date, Buffer or null; nested arrays make a
 * multi-dimensional array); sqlite has no arrays and refuses it (use
 * `json()` there).
 *
 * ```ts
 * broker.query('SELECT * FROM users WHERE id = ANY($1)', [array([1, 2, 3])]);
 * ```
 * @throws TypeError when `values` is not an array.
 */
export function array(values: readonly unknown[]): ArrayParameter {
  if (!Array.isArray(values)) throw new TypeError(`array(values) takes an array, not ${typeof values}`);
  return new ArrayParameter(values);
}
