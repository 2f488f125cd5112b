import type Cursor from 'pg-cursor';
import type { RowSource } from '../../rows/row-source';
import { loadDriver } from '../load-driver';

/** The part of a pg client a cursor needs. */
export interface PgCursorClient {
  query(cursor: Cursor): Cursor;
}

/**
 * A pg-cursor over `client`: each `read(n)` fetches n rows from the server
 * portal, nothing more. `close()` closes the portal, then calls `release`
 * (with the error if the cursor failed, so that pg-pool drops the client) and
 * waits for it.
 * `broken` reports an error the connection had between reads.
 */
export function pgCursorSource<T>(
  client: PgCursorClient,
  sql: string,
  parameters: unknown[],
  release: (error?: unknown) => void | Promise<void>,
  broken: () => unknown = () => undefined,
): RowSource<T> {
  const PgCursor = loadDriver('pg-cursor');
  const cursor = client.query(new PgCursor(sql, parameters));
  let failed: unknown;
  let closed: Promise<void> | undefined;
  return {
    async read(n) {
      // The connection died between reads: closing the portal would wait forever.
      failed ??= broken();
      if (failed !== undefined) throw failed;
      try {
        return (await cursor.read(n)) as T[];
      } catch (err) {
        failed ??= err;
        throw err;
      }
    },
    close() {
      closed ??= (async () => {
        try {
          failed ??= broken();
          if (failed === undefined) await cursor.close();
        } catch (err) {
          failed = err;
        }
        await release(failed);
      })();
      return closed;
    },
  };
}
