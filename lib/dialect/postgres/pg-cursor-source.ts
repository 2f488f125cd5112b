import type Cursor from 'pg-cursor';
import type { RowSource } from '../../rows/row-source';
import { loadDriver } from '../load-driver';

/** The part of a pg client a cursor needs. */
export interface PgCursorClient {
  query(cursor: Cursor): Cursor;
}

/** What a cursor source knows of its connection's death. */
export interface CursorConnection {
  /** The error the connection died with, or undefined while it lives. */
  broken(): unknown;
  /** Calls `fn` with that error if the connection dies; returns what stops watching. */
  onBroken(fn: (error: unknown) => void): () => void;
}

/** A connection that never dies (for a source whose owner watches nothing). */
const NEVER_BROKEN: CursorConnection = { broken: () => undefined, onBroken: () => () => undefined };

/**
 * A pg-cursor over `client`: each `read(n)` fetches n rows from the server
 * portal, nothing more. `close()` closes the portal, then calls `release`
 * (with the error if the cursor failed, so that pg-pool drops the client) and
 * waits for it.
 *
 * A read or a close in flight when the connection dies fails with its error
 * (`connection`), whatever pg-cursor does: once a read's last rows and its
 * CommandComplete are in, pg-cursor closes the portal and waits for
 * ReadyForQuery to hand the rows over, and ignores an error meanwhile (its
 * state is 'done'); its close() waits for a ReadyForQuery too. A connection
 * ending between those messages (server stopped, backend terminated) left
 * the read, its stream and its connection waiting forever (known upstream:
 * brianc/node-postgres issues 2468 and 2642; spec/faults/cursor-server-stop.spec.ts).
 */
export function pgCursorSource<T>(
  client: PgCursorClient,
  sql: string,
  parameters: unknown[],
  release: (error?: unknown) => void | Promise<void>,
  connection: CursorConnection = NEVER_BROKEN,
): RowSource<T> {
  const PgCursor = loadDriver('pg-cursor');
  const cursor = client.query(new PgCursor(sql, parameters));
  let failed: unknown;
  let closed: Promise<void> | undefined;
  // The server said the result is whole (its ReadyForQuery came): what is left
  // needs no server, so a connection lost after that fails nothing.
  let finished = false;
  return {
    async read(n) {
      if (finished) return [];
      // The connection died between reads: closing the portal would wait forever.
      failed ??= connection.broken();
      if (failed !== undefined) throw failed;
      try {
        const rows = (await untilBroken(cursor.read(n), connection)) as T[];
        finished = isDone(cursor);
        return rows;
      } catch (err) {
        failed ??= err;
        throw err;
      }
    },
    close() {
      closed ??= (async () => {
        try {
          failed ??= connection.broken();
          if (failed === undefined && !finished) await untilBroken(cursor.close(), connection);
        } catch (err) {
          failed = err;
        }
        await release(failed);
      })();
      return closed;
    },
  };
}

/** Whether pg-cursor has its result's ReadyForQuery: its state is then 'done' (pg-cursor 2.x). */
function isDone(cursor: unknown): boolean {
  return (cursor as { state?: unknown }).state === 'done';
}

/**
 * `promise`, or a rejection with the connection's error if it dies first.
 * One watch per call, removed when either settles: nothing waits on the
 * connection after the call (a watch living as long as the stream would keep
 * each read's rows, see cursor.ts).
 */
function untilBroken<V>(promise: Promise<V>, connection: CursorConnection): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const stop = connection.onBroken(reject);
    promise.then(
      (value) => {
        stop();
        resolve(value);
      },
      (err: unknown) => {
        stop();
        reject(err);
      },
    );
  });
}
