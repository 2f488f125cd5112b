import sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner } from 'typeorm';
import type { PortableType } from '../../schema/column';
import type { RowSource } from '../../rows/row-source';
import {
  driverErrorCode,
  statementError,
  type ConnectionStats,
  type CursorQuery,
  type Dialect,
  type PreparedStatement,
} from '../dialect';
import { concreteType, insertSql } from '../sql';
import { sqliteDdlTransaction } from './ddl';
import { bindSqlite } from './bind';
import { watchTypeormValues } from './typeorm-values';
import { busyFirst } from './busy-first';
import { openLocalBus } from './local-bus';
import { sqliteChunkSource, type SqliteQuery } from './chunk-source';
import { checkIdentity, identify, type FileIdentity } from './file-identity';
import { openQueryOnlyCursor } from './query-only-cursor';
import { openReader } from './reader';
import { parseSqliteUrl, SQLITE_FORMS } from './sqlite-target';
import { gateOutsideCalls, ownQueryRunner } from '../typeorm/outside-calls';

const TYPES: Record<PortableType, string> = {
  integer: 'integer',
  smallint: 'smallint',
  bigint: 'bigint',
  float: 'double',
  decimal: 'decimal',
  string: 'varchar',
  text: 'text',
  boolean: 'boolean',
  datetime: 'datetime',
  date: 'date',
  blob: 'blob',
  json: 'text',
};

/** node-sqlite3 as TypeORM gets it: everything but verbose mode. */
const quietSqlite3: typeof sqlite3 = Object.create(sqlite3, {
  verbose: {
    value(this: typeof sqlite3) {
      return this;
    },
  },
});

/** Prepared statements, per sqlite connection. */
const statements = new WeakMap<sqlite3.Database, Map<string, Promise<sqlite3.Statement>>>();

function connectionOf(ds: DataSource): sqlite3.Database {
  return (ds.driver as unknown as { databaseConnection: sqlite3.Database }).databaseConnection;
}

/** Row streams that may read at once, each on a reader connection of its own. */
const READERS = 4;

function isMemory(ds: DataSource): boolean {
  return isMemoryFile(ds.options.database);
}

function isMemoryFile(file: unknown): boolean {
  return file === ':memory:' || file === '' || file === undefined;
}

/** The file each file DataSource opened, recorded once it is initialized. */
const identities = new WeakMap<DataSource, FileIdentity>();

/** Runs one step of a statement on a connection (sqlite3_step once), discarding its row. */
function stepOnce(db: sqlite3.Database, sql: string, parameters: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => db.get(sql, parameters, (err) => (err ? reject(err) : resolve())));
}

/** Another connection (another process) holds the lock: re-running may succeed. */
const RETRYABLE = new Set(['SQLITE_BUSY']);

export const sqliteDialect: Dialect = {
  name: 'sqlite',
  urlForms: SQLITE_FORMS,
  ownsUrl: (url) => url.startsWith('sqlite:'),
  parseUrl: parseSqliteUrl,
  // TypeORM's sqlite driver has one connection and one shared QueryRunner.
  // Two overlapping TypeORM transactions on it silently nest as a SAVEPOINT,
  // so a later failure rolls back an earlier, already resolved transaction:
  // sasync runs sqlite transactions one at a time instead.
  transactionSlots: () => 1,

  // Reader connections are cheap and read while the writer commits (WAL);
  // an in-memory database has only its one connection.
  streamSlots: (ds) => (isMemory(ds) ? 0 : READERS),

  async openCursor<T>(ds: DataSource, query: CursorQuery, signal: AbortSignal): Promise<RowSource<T>> {
    // In memory there is one connection (its slot is the caller's while the
    // stream is open): read on it, with writes switched off meanwhile.
    if (isMemory(ds)) {
      const db = connectionOf(ds);
      const step = (sql: string, parameters: unknown[]) =>
        stepOnce(db, sql, sqliteDialect.bindParameters(parameters, sql));
      return openQueryOnlyCursor<T>(ownQueryRunner(ds), query, step);
    }
    // Read-only: writes are refused, and a file that is gone is never created
    // empty. A file replaced since the DataSource opened it is not read either.
    const identity = identities.get(ds);
    if (identity) checkIdentity(identity);
    const reader = await openReader(identity?.file ?? (ds.options.database as string));
    const q: SqliteQuery = (sql, parameters) => reader.all(sql, sqliteDialect.bindParameters(parameters, sql));
    const step = (sql: string, parameters: unknown[]) =>
      reader.step(sql, sqliteDialect.bindParameters(parameters, sql));
    try {
      if (signal.aborted) throw signal.reason;
      // Keyset chunks need a read transaction to see one snapshot; a copy into
      // a temporary table is one statement, a snapshot by itself.
      if (query.key !== undefined) await reader.run('BEGIN');
      const finish = async () => {
        if (query.key !== undefined) await reader.run('ROLLBACK').catch(() => undefined);
        await reader.close();
      };
      const source = sqliteChunkSource<T>({ query: q, step }, query.sql, query.parameters, query.key, finish);
      // A read in flight stops at once when the stream is cancelled.
      return { ...source, interrupt: () => reader.interrupt() };
    } catch (err) {
      await reader.close();
      throw err;
    }
  },

  async insertRow(runner, table, row, key) {
    const sql = insertSql(table, Object.keys(row), sqliteDialect.placeholder, key);
    const rows: Record<string, unknown>[] = await runner.query(sql, Object.values(row));
    return key ? (rows[0]?.[key] ?? null) : null;
  },

  async runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]> {
    const values = sqliteDialect.bindParameters(parameters, statement.sql);
    const db = connectionOf(runner.connection);
    let cache = statements.get(db);
    if (!cache) statements.set(db, (cache = new Map()));
    let prepared = cache.get(statement.id);
    if (!prepared) {
      // With a callback: without one, node-sqlite3 reports a syntax error as
      // an 'error' event and the broken statement never answers again.
      prepared = new Promise<sqlite3.Statement>((resolve, reject) => {
        const stmt: sqlite3.Statement = db.prepare(statement.sql, (err: Error | null) =>
          err ? reject(statementError(err, statement.sql, parameters)) : resolve(stmt),
        );
      });
      cache.set(statement.id, prepared);
      const forget = cache;
      prepared.catch(() => forget.delete(statement.id));
    }
    const stmt = await prepared;
    return new Promise((resolve, reject) =>
      stmt.all(values, (err: Error | null, rows: unknown[]) =>
        err ? reject(statementError(err, statement.sql, parameters)) : resolve(rows),
      ),
    );
  },

  async releasePrepared(ds: DataSource): Promise<void> {
    if (!ds.isInitialized) return;
    const db = connectionOf(ds);
    const cache = statements.get(db);
    statements.delete(db);
    const prepared = await Promise.all([...(cache?.values() ?? [])].map((p) => p.catch(() => undefined)));
    await Promise.all(prepared.map((s) => s && new Promise<void>((r) => s.finalize(() => r()))));
  },

  async openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>> {
    const q: SqliteQuery = (sql, parameters) => runner.query(sql, parameters);
    // Keyset chunks on a connection that writes meanwhile would see those
    // writes (no snapshot of its own); the temporary copy is one.
    const key = runner.isTransactionActive ? undefined : query.key;
    return sqliteChunkSource<T>({ query: q }, query.sql, query.parameters, key, async () => undefined);
  },

  // TypeORM always switches node-sqlite3 into verbose mode, which captures
  // and formats a stack trace on every call: a third of sasync's CPU time per
  // transaction. Given a driver whose verbose() does nothing, it stays quiet
  // (unless something else in the process turns verbose mode on for everyone).
  // File databases run in WAL mode, so that a stream's reader connection and
  // the writer never block each other, with a busy timeout for other processes.
  dataSourceOptions(options) {
    if (options.type !== 'sqlite') return options;
    const file = !isMemoryFile(options.database);
    const driver = (options.driver as typeof sqlite3 | undefined) ?? quietSqlite3;
    if (!file) return { ...options, driver };
    const busyTimeout = options.busyTimeout ?? 5000;
    return {
      ...options,
      driver: busyTimeout > 0 ? busyFirst(driver, busyTimeout) : driver,
      enableWAL: options.enableWAL ?? true,
      busyTimeout,
    };
  },

  // Only an INTEGER PRIMARY KEY auto-increments; sqlite's integer is 64 bits, so a generated bigint loses nothing.
  columnType: (column) => concreteType(TYPES, column.generated ? { ...column, type: 'integer' } : column),

  isRetryable: (error) => RETRYABLE.has(driverErrorCode(error) ?? ''),

  // sqlite transactions are always serializable, which satisfies any level a
  // caller asks for; TypeORM would reject every level but two.
  isolation: () => undefined,

  bindParameters: bindSqlite,

  connectionStats(ds: DataSource): ConnectionStats {
    const busy = ds.isInitialized && ownQueryRunner(ds).isTransactionActive;
    return { open: ds.isInitialized ? 1 : 0, idle: ds.isInitialized && !busy ? 1 : 0, waiting: 0, max: 1 };
  },

  async indexNames(runner: QueryRunner, table: string): Promise<string[]> {
    const rows: { name: string }[] = await runner.query(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?",
      [table],
    );
    return rows.map((r) => r.name);
  },

  // Overlapping calls on one node-sqlite3 connection may execute out of
  // order (a ROLLBACK overtaking an INSERT sent before it, which then commits
  // on its own); in serialized mode they run in the order they were made.
  // A file database's identity is recorded as it opens, for verifyWritable.
  prepareConnection(ds) {
    connectionOf(ds).serialize();
    watchTypeormValues(ds);
    if (!isMemory(ds)) identities.set(ds, identify(ds.options.database as string));
  },

  placeholder: () => '?',

  openBus: () => openLocalBus(),

  // One runner for everything: a TypeORM call from outside sasync's work
  // would run inside sasync's running transaction; it waits for the queue.
  gateOutsideCalls,

  async interrupt(runner: QueryRunner): Promise<boolean> {
    // Only this transaction uses the connection (sasync serializes them), so
    // interrupting whatever runs on it interrupts this transaction's statement.
    const db = (runner.connection.driver as unknown as { databaseConnection?: { interrupt(): void } })
      .databaseConnection;
    db?.interrupt();
    return db !== undefined;
  },

  async discard(runner: QueryRunner): Promise<void> {
    // The one shared runner must be usable by the next transaction: if sqlite
    // already ended the transaction itself, TypeORM's bookkeeping still says
    // it is open and would turn the next BEGIN into a SAVEPOINT.
    const state = runner as unknown as { isTransactionActive: boolean; transactionDepth: number };
    try {
      await runner.query('ROLLBACK');
    } catch {
      // no transaction was active: exactly the state we want
    }
    state.isTransactionActive = false;
    state.transactionDepth = 0;
  },

  verifyWritable(runner: QueryRunner): void {
    const identity = identities.get(runner.connection);
    if (identity) checkIdentity(identity);
  },

  // Table creation under BEGIN IMMEDIATE, so that processes starting at once do not collide.
  ddlTransaction: sqliteDdlTransaction,
};
