import { createHash } from 'node:crypto';
import type { PreparedStatement } from '../dialect';
import type { RowStream } from '../rows/row-stream';
import type { StreamOptions } from '../rows/stream-options';
import type { Awaitable } from '../transaction/awaitable';
import type { TransactOptions } from '../transaction/options';

/** A statement made by `broker.prepare(name, sql)`: compiled once, run with new parameters. */
export interface Prepared<T> {
  /** The name it was prepared under. */
  readonly name: string;
  /** Its SQL. */
  readonly sql: string;
  /**
   * Runs it (inside the current transaction, if any) and emits its rows as
   * one array: cold, and awaitable (`await prepared.query([1])` runs it once).
   */
  query(parameters?: readonly unknown[], options?: TransactOptions): Awaitable<T[]>;
  /** Streams its rows (the SQL is sent as a cursor, not as the prepared statement). */
  stream(parameters?: readonly unknown[], options?: StreamOptions): RowStream<T>;
}

/**
 * The statement as the database knows it. Its server-side name comes from
 * the SQL, not from the caller's name: brokers sharing a connection may use
 * one name for different SQL, and one connection must never see a name
 * prepared twice for different text.
 */
export function preparedStatement(sql: string): PreparedStatement {
  return { id: `sasync_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`, sql };
}
