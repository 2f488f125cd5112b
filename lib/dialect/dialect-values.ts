/** How values and placeholders reach the driver. */
export interface DialectValues {
  /**
   * Checks the parameters of `sql` and returns them as the driver must get
   * them to store them unchanged (sqlite: Dates as UTC text in TypeORM's
   * format, BigInts as numbers or decimal text; json() markers as JSON text);
   * the same array when nothing changes. The one place every value passes
   * before a driver sees it.
   * @throws InvalidParameterError for a value the driver would change (an
   *   object, NaN on sqlite, a BigInt beyond 64 bits…) or a count that does
   *   not match the SQL's placeholders.
   */
  bindParameters(parameters: readonly unknown[], sql: string): unknown[];
  /** The n-th (1-based) bound-parameter placeholder: `$n` on postgres, `?` on sqlite. */
  placeholder(n: number): string;
}
