import type { DataSource, QueryRunner } from 'typeorm';
import type { CancelToken } from '../cancel';
import type { RowSource } from '../rows/row-source';

/** A query to read in batches. */
export interface CursorQuery {
  readonly sql: string;
  readonly parameters: unknown[];
  /** sqlite: a unique, increasing column to read chunks by (see StreamOptions.key). */
  readonly key?: string;
}

/** What a cursor being opened watches to give up: the stream's cancellation. */
export type CursorCancel = Pick<CancelToken, 'aborted' | 'reason' | 'onAbort'>;

/** Row streams: read in batches, on a connection of their own or a transaction's. */
export interface DialectCursors {
  /**
   * Opens a cursor on a connection of the stream's own, closed with the
   * source. Once `cancel` aborts, it stops waiting for a connection and
   * rejects with the reason; a connection that comes later goes back.
   */
  openCursor<T>(ds: DataSource, query: CursorQuery, cancel: CursorCancel): Promise<RowSource<T>>;
  /** Opens a cursor on a transaction's connection: the stream is part of that transaction. */
  openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>>;
}
