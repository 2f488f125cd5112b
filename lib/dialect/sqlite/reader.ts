import fs from 'node:fs';
import type sqlite3 from 'sqlite3';
import { driverErrorCode } from '../driver-error';
import { loadDriver } from '../load-driver';
import { fileGone } from './file-identity';
import { SqliteStatementCache, type StatementClass } from './statement-cache';

/** A stream's reader connection, with the few calls a stream needs. */
export interface Reader {
  all(sql: string, parameters?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Runs one step of a statement (sqlite3_step once), discarding its row. */
  step(sql: string, parameters: unknown[]): Promise<void>;
  interrupt(): void;
  run(sql: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a reader connection on a database file, read-only (serialized, its
 * repeated SQL kept prepared: see SqliteStatementCache): a statement that
 * writes is refused by sqlite (SQLITE_READONLY) before it changes anything,
 * and a file that is gone is reported rather than created empty at its path.
 * Temporary tables still work (the temp database is the connection's own).
 * It waits for a lock as long as the DataSource's own connection does
 * (`busyTimeout`, in ms; 0: not at all).
 * @throws DatabaseError when there is no file at `file`.
 */
export async function openReader(file: string, busyTimeout: number): Promise<Reader> {
  const sqlite = loadDriver('sqlite3');
  // The constructor, not the module: node-sqlite3's verbose mode stays off.
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite.Database(file, sqlite.OPEN_READONLY, (err) =>
      err ? reject(gone(err, file) ?? err) : resolve(opened),
    );
  });
  // Its chunk reads repeat one SQL: kept prepared, a trip through the thread pool each instead of two.
  db.serialize();
  const statements = new SqliteStatementCache(db, sqlite.Statement as unknown as StatementClass);
  const reader: Reader = {
    all: (sql, parameters = []) =>
      new Promise((resolve, reject) =>
        statements.send(sql, parameters, 'all', (err, rows) =>
          err ? reject(err) : resolve(rows as Record<string, unknown>[]),
        ),
      ),
    step: (sql, parameters) =>
      new Promise((resolve, reject) => db.get(sql, parameters, (err) => (err ? reject(err) : resolve()))),
    run: (sql) => new Promise((resolve, reject) => db.run(sql, (err) => (err ? reject(err) : resolve()))),
    interrupt: () => db.interrupt(),
    close: () => {
      statements.close();
      return new Promise((resolve) => db.close(() => resolve()));
    },
  };
  try {
    // Spliced, as PRAGMA takes no parameters: a whole number, whatever the options held.
    const ms = Number.isFinite(busyTimeout) ? Math.max(0, Math.trunc(busyTimeout)) : 0;
    await reader.run(`PRAGMA busy_timeout = ${ms}`);
  } catch (err) {
    await reader.close();
    throw err;
  }
  return reader;
}

/** The database file was deleted (or moved) since the DataSource opened it. */
function gone(err: Error, file: string): Error | undefined {
  if (driverErrorCode(err) !== 'SQLITE_CANTOPEN' || fs.existsSync(file)) return undefined;
  return fileGone({ file }, 'no file is there now', err);
}
