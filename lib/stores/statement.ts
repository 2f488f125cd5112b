/** A statement and its bound parameters. */
export interface Statement {
  readonly sql: string;
  readonly parameters: unknown[];
}

/** Rows per multi-row statement: far below both databases' limits on bound parameters. */
export const ROWS_PER_STATEMENT = 500;

/** `items` in slices of at most {@link ROWS_PER_STATEMENT}. */
export function* slices<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) yield items.slice(i, i + ROWS_PER_STATEMENT);
}
