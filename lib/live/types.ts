import type { PriorityOptions } from '../scheduler/priority';
import type { TableRef } from '../dialect/dialect-live';
export type { TableRef };

/** Options of {@link AccessBroker.live}. */
export interface LiveOptions<T> extends PriorityOptions {
  /**
   * What identifies a row in the result, for the diff: a column name, or a
   * function of the row. Must be unique in every result (else LiveQueryError
   * 'duplicate-key'). Without it rows are told apart by their whole content:
   * a changed row is then one removed and one added.
   */
  readonly key?: (keyof T & string) | ((row: T) => unknown);
  /**
   * At most one re-query per this many milliseconds (default 30; 0 to 60,000).
   * Commits within the window cause one re-query. Under a sustained stream
   * of changes the interval doubles, up to 12 throttles, and comes back to
   * the throttle after a quiet interval.
   */
  readonly throttle?: number;
  /** Aborting it ends the live query (the Observable completes). */
  readonly signal?: AbortSignal;
  /**
   * The tables whose changes re-run the query, instead of the ones the
   * database finds in its plan (for a query reading through functions).
   */
  readonly tables?: readonly string[];
}

/** How one result differs from the one before, by key. */
export interface LiveDiff<T> {
  /** Rows whose key is new. */
  readonly added: readonly T[];
  /** Rows of the previous result whose key is gone. */
  readonly removed: readonly T[];
  /** Rows whose key was there before, with other content: the new row and the one it replaces. */
  readonly changed: readonly LiveChange<T>[];
}

/** One emission of a live query: the whole result, and what changed since the previous one. */
export interface LiveResult<T> {
  /** The rows, in the query's order. */
  readonly rows: readonly T[];
  /** Against the previous emission; the first emission has every row in `added`. */
  readonly diff: LiveDiff<T>;
}

/** A row whose key was there before, with other content. */
export interface LiveChange<T> {
  /** The row in the previous emission. */
  readonly before: T;
  /** The row now. */
  readonly after: T;
}
