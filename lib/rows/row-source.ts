import type { CancelToken } from '../cancel';

/**
 * An open cursor: rows are read only when asked for. Whoever opens one closes
 * it, on every exit (end, error, unsubscribe, break).
 */
export interface RowSource<T> {
  /** Up to `n` more rows; an empty array once the result is exhausted. */
  read(n: number): Promise<T[]>;
  /** Closes the cursor and gives its connection back; safe to call twice. */
  close(): Promise<void>;
  /**
   * Stops a read in flight on the server (a cursor on a connection of its
   * own): the read then fails, and close() gives the connection up for good.
   */
  interrupt?(): void;
}

/** Opens a source for one subscription; rejects (releasing everything) if `token` aborts first. */
export type OpenSource<T> = (token: CancelToken) => Promise<RowSource<T>>;
