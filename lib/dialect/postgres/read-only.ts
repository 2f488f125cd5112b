import { ReadOnlyError } from '../../errors';
import { driverErrorCode } from '../driver-error';

/**
 * A stream outside a transaction reads in a transaction of its own that may
 * not write: postgres refuses INSERT, UPDATE, DELETE (also in a WITH or with
 * RETURNING), CREATE, DROP, SELECT … FOR UPDATE and nextval() there with
 * 25006, before changing anything. It also keeps the snapshot and undoes a
 * SET the statement made, at the ROLLBACK that ends it.
 */
export const BEGIN_READ_ONLY = 'BEGIN TRANSACTION READ ONLY';

/** read_only_sql_transaction: the statement tried to write in the stream's read-only transaction. */
const READ_ONLY_SQL_TRANSACTION = '25006';

/** A client that runs plain statements. */
export interface PgTextClient {
  query(text: string): Promise<unknown>;
}

/** Ends the read-only transaction; resolves with the error if ROLLBACK failed (the client must then be dropped). */
export function endReadOnly(client: PgTextClient): Promise<unknown> {
  return client.query('ROLLBACK').then(
    () => undefined,
    (err: unknown) => err ?? new Error('ROLLBACK failed'),
  );
}

/** A ReadOnlyError for a write the read-only transaction refused; any other error as it is. */
export function readOnlyOr(error: unknown, sql: string): unknown {
  if (driverErrorCode(error) !== READ_ONLY_SQL_TRANSACTION) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return new ReadOnlyError(`the statement writes, and postgres refused it (${reason}); nothing was changed`, {
    sql,
    code: READ_ONLY_SQL_TRANSACTION,
    cause: error,
  });
}
