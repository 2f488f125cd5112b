import type sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner } from 'typeorm';
import type { RowSource } from '../../rows/row-source';
import type { CursorCancel, CursorQuery, DialectCursors } from '../dialect';
import { ownQueryRunner } from '../typeorm/outside-calls';
import { sqliteConnection } from '../typeorm/sqlite-driver';
import { bindSqlite } from './bind';
import { sqliteChunkSource } from './chunk-source';
import { checkIdentity, identityOf } from './file-identity';
import { DEFAULT_BUSY_TIMEOUT, readsOnOneConnection } from './options';
import { planRowidChunks, rowidChunkSource } from './rowid-chunks';
import { openQueryOnlyCursor } from './query-only-cursor';
import { openReader } from './reader';
import type { SqliteQuery } from './sql-calls';

export const sqliteCursors: DialectCursors = {
  async openCursor<T>(ds: DataSource, query: CursorQuery, cancel: CursorCancel): Promise<RowSource<T>> {
    // In memory there is one connection (its slot is the caller's while the
    // stream is open): read on it, with writes switched off meanwhile. So on
    // a file not in WAL mode, where a reader would block the writer.
    if (readsOnOneConnection(ds)) {
      const db = sqliteConnection(ds);
      if (!db) throw new Error('the DataSource is not initialized');
      const step = (sql: string, parameters: unknown[]) => stepOnce(db, sql, bindSqlite(parameters, sql));
      return openQueryOnlyCursor<T>(ownQueryRunner(ds), query, step);
    }
    // Read-only: writes are refused, and a file that is gone is never created
    // empty. A file replaced since the DataSource opened it is not read either.
    const identity = identityOf(ds);
    if (identity) checkIdentity(identity);
    const busyTimeout = (ds.options as { busyTimeout?: number }).busyTimeout ?? DEFAULT_BUSY_TIMEOUT;
    const reader = await openReader(identity?.file ?? (ds.options.database as string), busyTimeout);
    const q: SqliteQuery = (sql, parameters) => reader.all(sql, bindSqlite(parameters, sql));
    const step = (sql: string, parameters: unknown[]) => reader.step(sql, bindSqlite(parameters, sql));
    try {
      if (cancel.aborted) throw cancel.reason;
      // Keyset chunks (by `key`, or by the rowid of a plain single-table
      // query: a first row at once, not after a copy of the whole result) need
      // a read transaction to see one snapshot; a copy into a temporary table
      // is one statement, a snapshot by itself, and holds no read transaction.
      await reader.run('BEGIN');
      const plan = query.key === undefined ? await planRowidChunks(q, query.sql, query.parameters) : undefined;
      const inTransaction = query.key !== undefined || plan !== undefined;
      if (!inTransaction) await reader.run('ROLLBACK');
      const finish = async () => {
        if (inTransaction) await reader.run('ROLLBACK').catch(() => undefined);
        await reader.close();
      };
      const source = plan
        ? rowidChunkSource<T>(q, plan, query.parameters, finish)
        : sqliteChunkSource<T>({ query: q, step }, query.sql, query.parameters, query.key, finish);
      // A read in flight stops at once when the stream is cancelled.
      return { ...source, interrupt: () => reader.interrupt() };
    } catch (err) {
      await reader.close();
      throw err;
    }
  },

  async openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>> {
    const q: SqliteQuery = (sql, parameters) => runner.query(sql, parameters);
    // Keyset chunks on a connection that writes meanwhile would see those
    // writes (no snapshot of its own); the temporary copy is one.
    const key = runner.isTransactionActive ? undefined : query.key;
    return sqliteChunkSource<T>({ query: q }, query.sql, query.parameters, key, async () => undefined);
  },
};

/** Runs one step of a statement on a connection (sqlite3_step once), discarding its row. */
function stepOnce(db: sqlite3.Database, sql: string, parameters: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => db.get(sql, parameters, (err) => (err ? reject(err) : resolve())));
}
