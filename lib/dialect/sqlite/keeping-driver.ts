import type sqlite3 from 'sqlite3';
import { loadDriver } from '../load-driver';
import { SqliteStatementCache, sendUnprepared, type SqliteSend, type StatementClass } from './statement-cache';

/** The statement cache of each connection a {@link keepingStatements} driver opened. */
const caches = new WeakMap<sqlite3.Database, SqliteStatementCache>();

/** Each driver's wrapper, made once. */
const wrapped = new WeakMap<typeof sqlite3, typeof sqlite3>();

/**
 * `driver` whose connections keep the SQL they run repeatedly prepared
 * (see SqliteStatementCache), and finalize those statements before they
 * close (node-sqlite3 cannot close a connection that has statements not
 * finalized). Only sasync's own DataSources are made with it: an app's
 * DataSource closes by itself, and its connection keeps nothing.
 */
export function keepingStatements(driver: typeof sqlite3): typeof sqlite3 {
  const known = wrapped.get(driver);
  if (known) return known;
  const Statement = driver.Statement as unknown as StatementClass;
  const keeps = sendsAsNodeSqlite3(driver);
  class Database extends driver.Database {
    constructor(...args: ConstructorParameters<typeof driver.Database>) {
      super(...args);
      if (keeps) caches.set(this, new SqliteStatementCache(this, Statement));
    }

    override close(callback?: (err: Error | null) => void): void {
      caches.get(this)?.close();
      super.close(callback);
    }
  }
  const keeping = Object.create(driver, {
    Database: { value: Database },
    // TypeORM uses what verbose() returns: this wrapper, not the driver under it.
    verbose: {
      value(this: typeof sqlite3) {
        driver.verbose();
        return this;
      },
    },
  }) as typeof sqlite3;
  wrapped.set(driver, keeping);
  return keeping;
}

/**
 * Whether `driver` sends statements as node-sqlite3 itself does: its
 * run() and all() are node-sqlite3's (a driver that overrides them, to log
 * or retry, would be bypassed by kept statements), and it has wait() and
 * Statement. Any other driver keeps nothing.
 */
function sendsAsNodeSqlite3(driver: typeof sqlite3): boolean {
  let own: typeof sqlite3;
  try {
    own = loadDriver('sqlite3');
  } catch {
    return false;
  }
  const [mine, theirs] = [driver.Database.prototype, own.Database.prototype];
  return (
    mine.run === theirs.run &&
    mine.all === theirs.all &&
    typeof mine.wait === 'function' &&
    typeof driver.Statement === 'function'
  );
}

/** Sends `sql` on `db` as `db.run` or `db.all` would, through its statement cache if it has one. */
export const sendSqlite: SqliteSend = (db, sql, parameters, call, callback) => {
  const cache = caches.get(db);
  if (cache) cache.send(sql, parameters, call, callback);
  else sendUnprepared(db, sql, parameters, call, callback);
};

/** How many statements `db` keeps prepared (for specs). */
export function keptStatements(db: sqlite3.Database): number {
  return caches.get(db)?.size ?? 0;
}
