import type { DataSource, QueryRunner } from 'typeorm';
import type { RowSource } from '../../rows/row-source';
import type { CursorCancel, CursorQuery, DialectCursors } from '../dialect';
import { cancelBackend, destroySocket, type PooledClient } from '../typeorm/pg-client';
import { pgPool, type PgPool } from '../typeorm/postgres-driver';
import { bindPostgres } from './bind';
import { declaredCursorSource } from './declared-cursor-source';
import { pgCursorSource, type CursorConnection } from './pg-cursor-source';
import { BEGIN_READ_ONLY, endReadOnly, readOnlyOr } from './read-only';

export const postgresCursors: DialectCursors = {
  async openCursor<T>(ds: DataSource, query: CursorQuery, cancel: CursorCancel): Promise<RowSource<T>> {
    const parameters = bindPostgres(query.parameters, query.sql);
    const pool = pgPool(ds);
    if (!pool) throw new Error('the DataSource is not initialized');
    const client = await connectUnlessCancelled(pool, cancel);
    // A connection that dies while the stream is paused (server restart,
    // network) emits 'error' on the client: without a listener that crashes
    // the process. Keep it, and fail the next read with it, and a read or a
    // close in flight at once (pg-cursor may never settle them: see
    // pgCursorSource). 'end' too, in case the client ends without an error.
    let broken: unknown;
    const watchers = new Set<(error: unknown) => void>();
    const onError = (error: unknown) => {
      broken ??= error;
      for (const watcher of [...watchers]) watcher(broken);
    };
    const onEnd = () => onError(connectionEnded());
    client.on('error', onError);
    client.on('end', onEnd);
    const connection: CursorConnection = {
      broken: () => broken,
      onBroken(fn) {
        if (broken !== undefined) {
          fn(broken);
          return () => undefined;
        }
        watchers.add(fn);
        return () => void watchers.delete(fn);
      },
    };
    // After an interrupt the cancel may reach the backend after the read
    // ended: the client is destroyed, never pooled, or the late cancel would
    // hit whoever runs the next statement on it.
    let interrupted: Error | undefined;
    // The stream's read-only transaction ends with it: by ROLLBACK, or with
    // the connection when it failed or was interrupted (destroyed, not pooled).
    // BEGIN is queued ahead of the cursor, not awaited here: a server that
    // does not answer then holds a read, which an interrupt can end. pg-cursor
    // sends the statement's Execute only on the first read, after BEGIN.
    let beginFailed: unknown;
    const begun = client.query(BEGIN_READ_ONLY).then(
      () => undefined,
      (err: unknown) => (beginFailed = err ?? new Error('BEGIN failed')),
    );
    const release = async (error?: unknown) => {
      const failure = error ?? interrupted ?? beginFailed ?? (await endReadOnly(client));
      client.off('error', onError);
      client.off('end', onEnd);
      watchers.clear();
      client.release(failure as Error | undefined);
    };
    // The cursor is queued on the client only at the first read: one queued
    // earlier and closed before pg submitted it would be submitted anyway,
    // with nobody to read or close it, and the ROLLBACK behind it would wait
    // forever (a stream shut down while it opened hung, holding its connection).
    let source: RowSource<T> | undefined;
    let closing: Promise<void> | undefined;
    const cursor = () => (source ??= pgCursorSource<T>(client, query.sql, parameters, release, connection));
    // An interrupt ends the read in flight itself: pg does not always fail a
    // cursor's pending read when its socket is destroyed and the client ended
    // (found by the model tests: the read, and the stream, waited forever).
    // One stop per read, not a race with a promise that lives as long as the
    // stream: each race's reaction (holding its rows) stayed on that promise
    // until the stream ended, so every row read was kept (+100 MB and heavy
    // GC over a million rows).
    let stopRead: ((error: Error) => void) | undefined;
    return {
      read: async (n) => {
        await begun;
        if (beginFailed !== undefined) throw beginFailed;
        if (interrupted) throw interrupted;
        if (closing) throw new Error('the stream is closed');
        try {
          return await new Promise<T[]>((resolve, reject) => {
            stopRead = reject;
            cursor().read(n).then(resolve, reject);
          });
        } catch (err) {
          throw readOnlyOr(err, query.sql);
        } finally {
          stopRead = undefined;
        }
      },
      // An interrupted stream's socket is gone: closing its portal would wait
      // for an answer that never comes; the client is dropped, not pooled.
      close: () => (closing ??= source && !interrupted ? source.close() : release()),
      interrupt: () => {
        interrupted = new Error('the stream was interrupted');
        stopRead?.(interrupted);
        void cancelBackend(client).catch(() => undefined);
        // A server that does not answer (frozen) would hold the read forever:
        // the client is not pooled again anyway, so its socket goes now.
        destroySocket(client);
      },
    };
  },

  async openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>> {
    return declaredCursorSource<T>(runner, query.sql, query.parameters);
  },
};

/**
 * A client from the pool, unless `cancel` aborts first: then the wait ends at
 * once (a frozen server would hold it for the whole connect timeout). pg-pool
 * cannot take a wait back: a client that comes later goes back to the pool.
 */
function connectUnlessCancelled(pool: PgPool, cancel: CursorCancel): Promise<PooledClient> {
  return new Promise((resolve, reject) => {
    let stopWatching: (() => void) | undefined;
    if (cancel.aborted) reject(cancel.reason as Error);
    else stopWatching = cancel.onAbort((reason) => reject(reason as Error));
    pool.connect().then(
      (client) => {
        stopWatching?.();
        if (cancel.aborted) client.release();
        else resolve(client);
      },
      (err: unknown) => {
        stopWatching?.();
        reject(err as Error);
      },
    );
  });
}

/**
 * Why a read failed when its client ended without an error (pg emits one on
 * an unexpected end; this is for any other): 08006, connection_failure, so
 * that it is reported as a lost connection.
 */
function connectionEnded(): Error {
  return Object.assign(new Error('the connection to the server ended'), { code: '08006' });
}
