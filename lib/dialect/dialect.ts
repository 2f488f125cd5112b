import type { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import type { SchedulerLike } from 'rxjs';
import type { IsolationLevel } from 'typeorm/driver/types/IsolationLevel';
import { driverFields } from '../errors';
import type { RowSource } from '../rows/row-source';
import type { ColumnSpec, ConcreteType } from '../schema/column';

/** A target URL as a dialect reads it. */
export interface ParsedTarget {
  /** Targets with one key share one DataSource. */
  readonly key: string;
  /** For messages: no password. */
  readonly label: string;
  readonly options: DataSourceOptions;
}

/** A query to read in batches. */
export interface CursorQuery {
  readonly sql: string;
  readonly parameters: unknown[];
  /** sqlite: a unique, increasing column to read chunks by (see StreamOptions.key). */
  readonly key?: string;
}

/** A statement to prepare once per connection. */
export interface PreparedStatement {
  /** Its name on the server (derived from the SQL). */
  readonly id: string;
  readonly sql: string;
}

/** How a DataSource's connections are being used. */
export interface ConnectionStats {
  /** Connections that exist (open). */
  readonly open: number;
  /** Of those, how many are idle. */
  readonly idle: number;
  /** Callers waiting for a connection. */
  readonly waiting: number;
  /** The most connections there may be. */
  readonly max: number;
}

/**
 * What sasync needs to know about a database. Shared code asks these
 * questions; only the files under `lib/dialect/` know the answers.
 */
export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The URL forms it accepts, for messages. */
  readonly urlForms: string;
  /** Whether a target URL is of this dialect's scheme. */
  ownsUrl(url: string): boolean;
  /** Reads a URL of its scheme. @throws TargetSyntaxError if it is malformed. */
  parseUrl(url: string): ParsedTarget;
  /** The options the DataSource is made with: the caller's, plus this dialect's defaults. */
  dataSourceOptions(options: DataSourceOptions): DataSourceOptions;
  /** How many transactions may run at once; the rest of the pool is kept for streams. */
  transactionSlots(ds: DataSource): number;
  /**
   * How many row streams may hold a connection of their own at once. 0: the
   * database has one connection (sqlite in memory), so a stream holds the
   * transaction slot instead and reads on that connection.
   */
  streamSlots(ds: DataSource): number;
  /** Opens a cursor on a connection of the stream's own (closed with the source). */
  openCursor<T>(ds: DataSource, query: CursorQuery, signal: AbortSignal): Promise<RowSource<T>>;
  /**
   * Inserts one row (names already validated, values bound) and resolves with
   * the value of its `key` column (undefined key: null).
   */
  insertRow(
    runner: QueryRunner,
    table: string,
    row: Readonly<Record<string, unknown>>,
    key: string | undefined,
  ): Promise<unknown>;
  /** Runs a prepared statement on the runner's connection, preparing it there first if needed. */
  runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]>;
  /** Frees what prepared statements hold before the DataSource closes. */
  releasePrepared(ds: DataSource): Promise<void>;
  /** Opens a cursor on a transaction's connection: the stream is part of that transaction. */
  openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>>;
  /** The concrete type of a portable column type. */
  columnType(column: ColumnSpec): ConcreteType;
  /** Whether re-running the transaction may succeed (serialization failure, deadlock, busy). */
  isRetryable(error: unknown): boolean;
  /** The isolation level to ask TypeORM for, given the one the user asked for. */
  isolation(level: IsolationLevel | undefined): IsolationLevel | undefined;
  connectionStats(ds: DataSource): ConnectionStats;
  /** Index names on a table, read from the database catalog. */
  indexNames(runner: QueryRunner, table: string): Promise<string[]>;
  /**
   * Checks the parameters of `sql` and returns them as the driver must get
   * them to store them unchanged (sqlite: Dates as UTC text in TypeORM's
   * format, BigInts as numbers or decimal text; json() markers as JSON text);
   * the same array when nothing changes. The one place every value passes
   * before a driver sees it.
   * @throws InvalidParameterError for a value the driver would change (an
   *   object, NaN on sqlite, a BigInt beyond 64 bits…) or a count that does
   *   not match the SQL's placeholders.
   */
  bindParameters(parameters: readonly unknown[], sql: string): unknown[];
  /** Sets up a DataSource once it is initialized. */
  prepareConnection(ds: DataSource): void;
  /**
   * Interrupts the statement the runner is running, if one is, so that a
   * cancelled transaction rolls back now rather than after a long query.
   * Resolves true when it interrupted something: the caller must then
   * {@link discard} the runner after rolling back.
   */
  interrupt(runner: QueryRunner): Promise<boolean>;
  /**
   * Gives up a runner whose ROLLBACK failed, so that the connection is never
   * reused in an unknown transaction state.
   */
  discard(runner: QueryRunner, error: unknown): Promise<void>;
  /** The n-th (1-based) bound-parameter placeholder: `$n` on postgres, `?` on sqlite. */
  placeholder(n: number): string;
  /** Opens the change bus of an initialized DataSource (one per DataSource; see {@link ChangeBus}). */
  openBus(ds: DataSource, options: BusOptions): ChangeBus;

  /**
   * Where every transaction shares one connection (sqlite): makes TypeORM
   * calls on the initialized DataSource from outside sasync's work (say
   * `dataSource.manager.save()`) wait for the queue's slot, so that they run
   * on their own rather than inside sasync's running transaction. Absent
   * where each runner has a connection of its own.
   */
  gateOutsideCalls?(ds: DataSource, gate: OutsideGate): void;
  /**
   * Called before a write is acknowledged (right before COMMIT, and before an
   * autocommit statement's result is returned): throws if what was written
   * would be lost. sqlite: the database file at the path was deleted or
   * replaced since it was opened (the connection still writes to the old
   * one). postgres: the server already aborted the transaction (the work
   * caught a failed statement and went on), so COMMIT would roll it back.
   * @throws DatabaseError (sqlite) or TransactionError (postgres) saying so, and what to do.
   */
  verifyWritable(runner: QueryRunner): void | Promise<void>;
  /**
   * Destroys the runner's connection at once, without a word to the server
   * (the server rolls back when it notices), for a cancelled transaction
   * whose ROLLBACK does not come back: a frozen or unreachable server must
   * not hold the queue. Waits for a connection still being opened (bounded by
   * the connect timeout). Absent where a connection cannot be given up apart
   * (sqlite's one): the caller then waits for the ROLLBACK.
   */
  destroy?(runner: QueryRunner): Promise<void>;
  /**
   * Whether `error` means that a connection was lost or could not be opened
   * (the server terminated the backend, shut down or restarted; the network
   * dropped): then the driver's error that says so, with its code. With a
   * runner, also a call that failed because its connection had died before
   * (TypeORM's "already released"), and with no error, whether the runner's
   * connection is dead now. Undefined for any other error.
   */
  lostConnection?(runner: QueryRunner | undefined, error: unknown): LostConnection | undefined;
  /**
   * Runs table and index creation (`work`, which checks the catalog first)
   * so that no other connection or process creating the same tables can
   * interleave with it: postgres takes an advisory transaction lock, sqlite
   * begins with BEGIN IMMEDIATE. Given a runner outside a transaction, it
   * begins one and commits it; inside one (table() within transact()), it
   * runs there. On failure the caller rolls back.
   */
  ddlTransaction<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T>;
}

/** A connection that was lost, as {@link Dialect.lostConnection} tells it. */
export interface LostConnection {
  /** The driver's error that says so (with its code). */
  readonly error: unknown;
  /** The connection was never opened: nothing was run on it. */
  readonly connecting: boolean;
}

/** The broker's queue, as {@link Dialect.gateOutsideCalls} sees it. */
export interface OutsideGate {
  /**
   * Asked as a caller makes a runner: undefined when the caller may use the
   * connection at once (sasync's own work, holding the slot already);
   * otherwise the function that takes the slot, to call at the runner's first
   * statement in the caller's context, resolving with the function that gives
   * it back.
   */
  claim(): (() => Promise<() => void>) | undefined;
}

/** What a {@link ChangeBus} listener is told. */
export interface BusListener {
  /** A notice announced on the channel, by this process or another. */
  notice(payload: string): void;
  /**
   * Notices may have been lost (the listening connection dropped and is back):
   * reread whatever the listener caches.
   */
  resync(): void;
}

export interface BusOptions {
  /** Times the reconnection backoff (tests inject a virtual-time scheduler). */
  readonly scheduler: SchedulerLike;
  /** First reconnection delay in ms; it doubles up to {@link maxDelay}. */
  readonly initialDelay: number;
  readonly maxDelay: number;
}

/** The connection's state, for tests and status displays. */
export type BusState = 'idle' | 'connecting' | 'listening' | 'down' | 'closed';

/**
 * Change notices between stores on one database, across processes where the
 * database can carry them (postgres LISTEN/NOTIFY on one dedicated, unpooled
 * connection per DataSource) and within this process where it cannot (sqlite).
 * Payloads are short text (postgres allows under 8000 bytes).
 */
export interface ChangeBus {
  /**
   * Inside a write transaction, on its connection: announces `payload` on
   * `channel`, delivered when (and only if) the transaction commits.
   */
  announce(runner: QueryRunner, channel: string, payload: string): Promise<void>;
  /** After that transaction committed: delivers in this process where the database does not. */
  committed(channel: string, payload: string): void;
  /**
   * Listens on `channel` (a validated identifier). The first listener opens
   * the connection; the returned function removes the listener, and the last
   * removal closes the connection.
   */
  listen(channel: string, listener: BusListener): () => void;
  /** The listening connection's state (always 'listening' once listened to, where no connection is needed). */
  readonly state: BusState;
  /** Calls `observer` on every state change; returns the function that stops it. */
  onState(observer: (state: BusState) => void): () => void;
  /** Closes the connection and cancels any reconnection; listeners are dropped. */
  close(): Promise<void>;
}

/**
 * A driver error from a statement sasync ran on the driver itself, given the
 * fields TypeORM's QueryFailedError has, so that TransactionError finds the
 * SQL, parameters and code the same way.
 */
export function statementError(err: unknown, sql: string, parameters: unknown[]): unknown {
  return typeof err === 'object' && err !== null ? Object.assign(err, { query: sql, parameters }) : err;
}

/** The driver's error code (postgres SQLSTATE, sqlite `SQLITE_*`), wherever TypeORM put it. */
export function driverErrorCode(error: unknown): string | undefined {
  return driverFields(error).code;
}
