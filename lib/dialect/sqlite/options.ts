import type sqlite3 from 'sqlite3';
import type { DataSource, DataSourceOptions } from 'typeorm';
import { loadDriver } from '../load-driver';
import { busyFirst } from './busy-first';
import { keepingStatements } from './keeping-driver';

let quiet: typeof sqlite3 | undefined;

/** node-sqlite3 as TypeORM gets it: everything but verbose mode. Loaded at the first sqlite target. */
function quietSqlite3(): typeof sqlite3 {
  quiet ??= Object.create(loadDriver('sqlite3'), {
    verbose: {
      value(this: typeof sqlite3) {
        return this;
      },
    },
  }) as typeof sqlite3;
  return quiet;
}

/** How long (ms) a connection to a sqlite file waits for another's lock, unless the options say. */
export const DEFAULT_BUSY_TIMEOUT = 5000;

/**
 * The options a sqlite DataSource is made with. TypeORM always switches
 * node-sqlite3 into verbose mode, which captures and formats a stack trace on
 * every call: a third of sasync's CPU time per transaction. Given a driver
 * whose verbose() does nothing, it stays quiet (unless something else in the
 * process turns verbose mode on for everyone). Its connections keep the
 * SQL they run repeatedly prepared (keeping-driver.ts). File databases run in WAL
 * mode, so that a stream's reader connection and the writer never block each
 * other, with a busy timeout for other processes.
 * @throws DatabaseError when no driver is given and sqlite3 is not installed.
 */
export function sqliteOptions(options: DataSourceOptions): DataSourceOptions {
  if (options.type !== 'sqlite') return options;
  const file = !isMemoryFile(options.database);
  const driver = keepingStatements((options.driver as typeof sqlite3 | undefined) ?? quietSqlite3());
  if (!file) return { ...options, driver };
  const busyTimeout = options.busyTimeout ?? DEFAULT_BUSY_TIMEOUT;
  return {
    ...options,
    driver: busyTimeout > 0 ? busyFirst(driver, busyTimeout) : driver,
    enableWAL: options.enableWAL ?? true,
    busyTimeout,
  };
}

/** Whether the DataSource's database is in memory (one connection, no file). */
export function isMemory(ds: DataSource): boolean {
  return isMemoryFile(ds.options.database);
}

/**
 * Whether row streams read on the DataSource's one connection, holding the
 * transaction slot meanwhile, rather than on reader connections of their
 * own: in memory (there is no other connection), and on a file not in WAL
 * mode, where a reader's open snapshot would keep every writer from
 * committing. sasync's own file DataSources are in WAL mode unless the
 * options said `enableWAL: false`; an app's DataSource is read as in WAL
 * mode only when its options say `enableWAL: true` (sasync never switches
 * an app's file to WAL: the journal mode stays with the file).
 */
export function readsOnOneConnection(ds: DataSource): boolean {
  return isMemory(ds) || (ds.options as { enableWAL?: boolean }).enableWAL !== true;
}

function isMemoryFile(file: unknown): boolean {
  return file === ':memory:' || file === '' || file === undefined;
}
