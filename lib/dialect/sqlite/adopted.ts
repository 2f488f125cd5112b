import type { DataSource } from 'typeorm';
import { sqliteConnection } from '../typeorm/sqlite-driver';
import { isMemory } from './options';

/** The busy timeout sasync gives its own sqlite file DataSources (see sqliteOptions), in ms. */
export const BUSY_TIMEOUT = 5000;

/**
 * An app's sqlite DataSource works as it is: in memory or on a file, in WAL
 * mode or not (without `enableWAL: true` row streams read on its one
 * connection, holding the transaction slot: see readsOnOneConnection).
 */
export function checkSqliteDataSource(): void {}

/**
 * Gives an app's file DataSource that sets no `busyTimeout` sasync's busy
 * timeout (node-sqlite3's default, 1 s, fails a transaction that meets
 * another process's lock sooner than sasync's own DataSources do); resolves
 * with what puts the timeout it had back. A `busyTimeout` of the app's own
 * is left as it is.
 */
export async function tuneSqliteDataSource(ds: DataSource): Promise<() => Promise<void>> {
  const db = sqliteConnection(ds);
  const set = (ds.options as { busyTimeout?: number }).busyTimeout;
  if (!db || isMemory(ds) || set !== undefined) return async () => undefined;
  const before = await new Promise<number>((resolve, reject) =>
    db.get('PRAGMA busy_timeout', (err, row: { timeout?: number } | undefined) =>
      err ? reject(err) : resolve(row?.timeout ?? 0),
    ),
  );
  if (before >= BUSY_TIMEOUT) return async () => undefined;
  db.configure('busyTimeout', BUSY_TIMEOUT);
  return async () => {
    // Not if the owner destroyed it meanwhile (the connection is closed, or another one).
    if (ds.isInitialized && sqliteConnection(ds) === db) db.configure('busyTimeout', before);
  };
}
