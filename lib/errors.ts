/**
 * The errors sasync raises. Every one is a {@link SasyncError}: `name` is the
 * class name, `cause` keeps the underlying error, and the remaining fields are
 * read-only context. Messages say what happened and what to do about it.
 */

import { driverFields } from './dialect/driver-error';

/** Options every sasync error accepts. */
export interface SasyncErrorOptions {
  /** The underlying error, kept as the error's `cause`. */
  readonly cause?: unknown;
}

/** The base of every error sasync raises. */
export class SasyncError extends Error {
  constructor(message: string, options: SasyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }
}

/** Context a {@link TransactionError} carries. */
export interface TransactionErrorContext extends SasyncErrorOptions {
  /** The transaction method's name, when it has one. */
  readonly method?: string;
  /** The SQL that failed, when known. */
  readonly sql?: string;
  /** The bound parameters, redacted to their types (values may be secrets). */
  readonly parameters?: readonly unknown[];
  /** The dialect the transaction ran on. */
  readonly dialect?: string;
  /** How many times the transaction was attempted (more than 1 with `retry`). */
  readonly attempts?: number;
  /** It may have committed: its connection was lost while COMMIT was on the way. */
  readonly outcomeUnknown?: boolean;
  /** It committed (commitWith()) before its work failed. */
  readonly committed?: boolean;
}

/**
 * A transaction failed and was rolled back. `cause` is the original error; for
 * a database error, `code` is the driver's code (postgres SQLSTATE such as
 * `40001`, or sqlite's `SQLITE_BUSY`) and `sql` the statement.
 */
export class TransactionError extends SasyncError {
  /** The transaction method's name, when it has one. */
  readonly method: string | undefined;
  /** The SQL that failed, when known. */
  readonly sql: string | undefined;
  /** The bound parameters, redacted to their types (`<string(5)>`, `null`): values may be secrets. */
  readonly parameters: readonly string[] | undefined;
  /** The dialect the transaction ran on (`'sqlite'` or `'postgres'`). */
  readonly dialect: string | undefined;
  /** How many times the transaction was attempted (more than 1 with `retry`). */
  readonly attempts: number;
  /** The driver's error code: a postgres SQLSTATE such as `40001`, or sqlite's `SQLITE_BUSY`. */
  readonly code: string | undefined;
  /** Postgres' detail line for the error (which key a unique violation hit, say), when it gave one. */
  readonly detail: string | undefined;
  /**
   * True when it may have committed after all (its connection was lost while
   * COMMIT was on the way): check before running it again. A transaction
   * cancelled at that moment fails with a CancelledError that says the same.
   */
  readonly outcomeUnknown: boolean;
  /**
   * True when it had committed, its writes kept, before its work failed: the
   * work went on after `commitWith()` and threw. Never re-run.
   */
  readonly committed: boolean;

  constructor(message: string, context: TransactionErrorContext = {}) {
    super(message, context);
    const driver = driverFields(context.cause);
    this.method = context.method;
    this.sql = context.sql ?? driver.sql;
    this.parameters = redact(context.parameters ?? driver.parameters);
    this.dialect = context.dialect;
    this.attempts = context.attempts ?? 1;
    this.code = driver.code;
    this.detail = driver.detail;
    this.outcomeUnknown =
      context.outcomeUnknown ?? (context.cause instanceof ConnectionLostError && context.cause.duringCommit);
    this.committed = context.committed ?? false;
  }
}

/** Work was submitted to a broker after `shutdown()`. */
export class BrokerClosedError extends SasyncError {
  /** The broker (or store) that is shut down, as named in the message. */
  readonly broker: string;
  constructor(broker: string, what = 'work') {
    super(
      `${broker} is shut down: cannot run ${what}. ` +
        'Create a new broker for the target, or submit work before calling shutdown().',
    );
    this.broker = broker;
  }
}

/** The database could not be reached or configured, or a target is malformed. */
export class DatabaseError extends SasyncError {
  /** The target concerned, without its password, when there is one. */
  readonly target: string | undefined;
  constructor(message: string, context: SasyncErrorOptions & { target?: string } = {}) {
    super(message, context);
    this.target = context.target;
  }
}

/** Synchronous access was attempted on a store that must be used asynchronously. */
export class AsyncError extends SasyncError {}

/** A key is not in a persistent store. */
export class MissingKeyError extends SasyncError {
  /** The key that is not there. */
  readonly key: unknown;
  /** The store's group, when it has one. */
  readonly group: string | undefined;
  constructor(key: unknown, group?: string) {
    super(
      `no item ${JSON.stringify(key)}${group === undefined ? '' : ` in group ${JSON.stringify(group)}`}; ` +
        'use get(key, default) to get a default instead.',
    );
    this.key = key;
    this.group = group;
  }
}

/** A store key is not acceptable (wrong type for the store's nameType, empty, or too long). */
export class InvalidKeyError extends SasyncError {
  /** The key that was refused. */
  readonly key: unknown;
  /** The store's group. */
  readonly group: string;
  constructor(key: unknown, group: string, reason: string) {
    super(`invalid key ${describeKey(key)} for group ${JSON.stringify(group)}: ${reason}`);
    this.key = key;
    this.group = group;
  }
}

function describeKey(key: unknown): string {
  if (typeof key === 'string') return JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);
  return typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean'
    ? String(key)
    : `(${typeof key})`;
}

/** A value cannot be stored (or a stored value cannot be read back). */
export class SerializationError extends SasyncError {
  /** Where in the value the problem is (a property path), when known. */
  readonly path: string | undefined;
  constructor(message: string, context: SasyncErrorOptions & { path?: string } = {}) {
    super(message, context);
    this.path = context.path;
  }
}

/** What an {@link InvalidIdentifierError} is about. */
export type IdentifierKind = 'table' | 'column' | 'index' | 'type' | 'statement';

/** A table, column or index name (or a column type) is not acceptable. */
export class InvalidIdentifierError extends SasyncError {
  /** What was being named: a table, a column, an index, a type or a statement. */
  readonly kind: IdentifierKind;
  /** The name that was refused. */
  readonly identifier: string;
  constructor(kind: IdentifierKind, identifier: string, reason: string) {
    super(`invalid ${kind} ${JSON.stringify(identifier)}: ${reason}`);
    this.kind = kind;
    this.identifier = identifier;
  }
}

/**
 * A bound parameter was refused before any driver saw it: the driver would
 * have stored something else (a plain object as JSON text, NaN as NULL), or
 * there are more or fewer values than the SQL has placeholders. Nothing ran.
 */
export class InvalidParameterError extends SasyncError {
  /** Which parameter (1-based): the first bad value, or the first missing or extra one. */
  readonly position: number;
  /** What is wrong with it. */
  readonly reason: string;
  /** The statement it was for, when known. */
  readonly sql: string | undefined;
  constructor(position: number, reason: string, context: { readonly sql?: string; readonly hint: string }) {
    super(`parameter ${position} ${reason}: ${context.hint}`);
    this.position = position;
    this.reason = reason;
    this.sql = context.sql;
  }
}

/** A row stream was iterated in a way it does not support (twice at once, say). */
export class TransactIterationError extends SasyncError {}

/**
 * A statement that writes ran where only reads are allowed, and the database
 * refused it, so nothing changed: in `stream()` outside a transaction (a
 * DELETE … RETURNING, a DROP, a SELECT … FOR UPDATE…: such a stream only
 * reads), or in a read-only transaction (`transact(work, { readOnly: true })`,
 * `inTransaction` true; it was rolled back). `code` is the driver's (postgres
 * `25006`, sqlite `SQLITE_READONLY`), `sql` the statement.
 */
export class ReadOnlyError extends SasyncError {
  /** The statement that tried to write, when known. */
  readonly sql: string | undefined;
  /** The driver's code: postgres `25006`, sqlite `SQLITE_READONLY`. */
  readonly code: string | undefined;
  /** Refused in a read-only transaction (`{ readOnly: true }`), not in a stream. */
  readonly inTransaction: boolean;
  constructor(
    reason: string,
    context: SasyncErrorOptions & {
      readonly sql?: string;
      readonly code?: string;
      readonly inTransaction?: boolean;
    } = {},
  ) {
    super(
      context.inTransaction
        ? `a read-only transaction ({ readOnly: true }) cannot write: ${reason}; it was rolled back. ` +
            'Run work that writes without readOnly'
        : `stream() outside a transaction only reads: ${reason}; ` +
            'run writes with query() or return the stream from transact() work',
      context,
    );
    this.sql = context.sql;
    this.code = context.code;
    this.inTransaction = context.inTransaction ?? false;
  }
}

/**
 * A field of a table spec given to `table()` is not acceptable: a precision or
 * length out of range, a field of the wrong type, an unknown field. Nothing
 * was sent to the database. `column` is undefined for the table's options.
 */
export class InvalidSpecError extends SasyncError {
  /** The table whose spec was refused. */
  readonly table: string;
  /** The column whose field was refused; undefined for the table's options. */
  readonly column: string | undefined;
  /** The field that was refused (`length`, `precision`, `index`…). */
  readonly field: string;
  constructor(table: string, column: string | undefined, field: string, reason: string) {
    super(
      `invalid spec for table ${JSON.stringify(table)}${column === undefined ? '' : `, column ${JSON.stringify(column)}`}: ${field} ${reason}`,
    );
    this.table = table;
    this.column = column;
    this.field = field;
  }
}

/**
 * The connection a transaction or row stream ran on was lost, or could not be
 * opened: the server terminated its backend, shut down or restarted, or the
 * network dropped it. `code` is the driver's: postgres `57P01` (terminated or
 * shut down), `57P02` (crash of another backend), `57P03` (starting or
 * shutting down), `08006`…, or the socket's `ECONNRESET`, `ECONNREFUSED`;
 * `08006` (connection_failure) when the driver gave none (the socket just
 * closed); `cause` is the driver's error.
 *
 * Lost before its COMMIT was sent, a transaction was rolled back by the
 * server and may succeed if re-run: `retry` re-runs it. Lost while its COMMIT
 * was on the way (`duringCommit`), it may or may not have committed: it is
 * never re-run, check before running it again.
 */
export class ConnectionLostError extends SasyncError {
  /** The driver's code (`57P01`, `ECONNRESET`…), or `08006` when it gave none. */
  readonly code: string | undefined;
  /** The target whose connection was lost, without its password. */
  readonly target: string | undefined;
  /** Lost while COMMIT was on the way: whether it committed is unknown, so it is not re-run. */
  readonly duringCommit: boolean;
  constructor(
    /** What was going on, for the message: "running a transaction", "reading a row stream". */
    doing: string,
    context: SasyncErrorOptions & {
      readonly target?: string;
      readonly duringCommit?: boolean;
      readonly connecting?: boolean;
    },
  ) {
    const code = driverFields(context.cause).code;
    const where = context.target ?? 'the database';
    const what = code ? ` (${code})` : '';
    const reason = context.cause instanceof Error ? `: ${context.cause.message}` : '';
    const outcome = context.connecting
      ? `could not open a connection to ${where}${what} for ${doing}${reason}; nothing was run`
      : `the connection to ${where} was lost${what} while ${doing}${reason}`;
    const advice = context.duringCommit
      ? '; its COMMIT was on the way: whether it committed is unknown, so it is not re-run: check before running it again'
      : doing.includes('transaction') || doing.includes('statement')
        ? `; ${context.connecting ? '' : 'the transaction was rolled back by the server; '}it may succeed if re-run: pass { retry: n }`
        : '';
    super(outcome + advice, context);
    this.code = code ?? '08006';
    this.target = context.target;
    this.duringCommit = context.duringCommit ?? false;
  }
}

/** Context a {@link CancelledError} or {@link TimeoutError} carries. */
export interface CancelledErrorContext extends SasyncErrorOptions {
  /** The transaction method's (or run's, or stream's) name, when it has one. */
  readonly method?: string;
  /** The dialect it ran on, once it had started. */
  readonly dialect?: string;
  /** Attempts made before it was cancelled (more than 1 with `retry`). */
  readonly attempts?: number;
  /** Cancelled while its COMMIT was on the way: it may have committed. */
  readonly outcomeUnknown?: boolean;
}

/**
 * Work was cancelled before it finished: its caller's `signal` aborted (the
 * signal's reason is `cause`); a transaction, a run() or a row stream.
 * A transaction cancelled while queued never ran; cancelled while running,
 * it was rolled back, unless `outcomeUnknown`: then it was cancelled while
 * its COMMIT was on the way and may have committed, so check before running
 * it again. Unsubscribing cancels too, but nobody is left to be told.
 */
export class CancelledError extends SasyncError {
  /** The transaction method's (or run's, or stream's) name, when it has one. */
  readonly method: string | undefined;
  /** The dialect it ran on, once it had started. */
  readonly dialect: string | undefined;
  /** Attempts made before it was cancelled (0 if it never started, more than 1 with `retry`). */
  readonly attempts: number;
  /** Cancelled while its COMMIT was on the way: it may have committed, so check before running it again. */
  readonly outcomeUnknown: boolean;
  constructor(message: string, context: CancelledErrorContext = {}) {
    super(message, context);
    this.method = context.method;
    this.dialect = context.dialect;
    this.attempts = context.attempts ?? 0;
    this.outcomeUnknown = context.outcomeUnknown ?? false;
  }
}

/**
 * Work took longer than its `timeout` (counted from its submission: waiting
 * in the queue and running) and was cancelled: a {@link CancelledError} whose
 * cause is the time running out. `timeout` is the limit in ms (undefined when
 * the caller's own `AbortSignal.timeout()` ran out). Raise it if
 * the work needs longer, or find out what holds the queue or the database.
 */
export class TimeoutError extends CancelledError {
  /** The limit that ran out, in ms; undefined when the caller's own `AbortSignal.timeout()` ran out. */
  readonly timeout: number | undefined;
  constructor(message: string, context: CancelledErrorContext & { readonly timeout?: number } = {}) {
    super(message, context);
    this.timeout = context.timeout;
  }
}

function redact(parameters: readonly unknown[] | undefined): readonly string[] | undefined {
  if (parameters === undefined) return undefined;
  return Object.freeze(
    parameters.map((p) => {
      if (p === null) return 'null';
      if (typeof p === 'string') return `<string(${p.length})>`;
      if (p instanceof Uint8Array) return `<bytes(${p.length})>`;
      if (p instanceof Date) return '<date>';
      return `<${typeof p}>`;
    }),
  );
}

/**
 * The DataSource's migrations cannot be run as given: two with the same name,
 * a name without its timestamp, or a `migrations` folder that does not exist.
 * Raised before any migration runs, so nothing has changed; `migration` names
 * the one at fault, `path` the missing folder.
 */
export class MigrationError extends SasyncError {
  /** The migration at fault, when one is. */
  readonly migration: string | undefined;
  /** The folder (from the DataSource's `migrations` option) that does not exist. */
  readonly path: string | undefined;
  constructor(message: string, context: SasyncErrorOptions & { migration?: string; path?: string } = {}) {
    super(message, context);
    this.migration = context.migration;
    this.path = context.path;
  }
}

/** One way an existing table differs from its spec (see {@link SchemaDriftError}). */
export interface TableDifference {
  /** `missingColumn` and `missingIndex` are what `{ evolve: true }` adds; the others it never changes. */
  readonly kind: 'missingColumn' | 'columnType' | 'columnNullable' | 'missingIndex' | 'indexColumns';
  /** The column, or the index's name in the database. */
  readonly name: string;
  /** What the spec says (a type, `nullable`/`not null`, a column list). */
  readonly expected: string;
  /** What the database has (`missing` when it has none). */
  readonly actual: string;
}

/**
 * `table()` found the table already there but not as its spec says. Nothing
 * was changed. `differences` lists each one; with `{ evolve: true }` table()
 * adds missing columns and indexes itself, and the rest (a type, a
 * nullability, an index's columns) needs a migration.
 */
export class SchemaDriftError extends SasyncError {
  /** The table. */
  readonly table: string;
  /** Every difference found. */
  readonly differences: readonly TableDifference[];
  constructor(table: string, differences: readonly TableDifference[], evolving: boolean) {
    const list = differences.map((d) => `${d.kind} ${d.name} (spec: ${d.expected}, database: ${d.actual})`);
    const addable = differences.every((d) => d.kind === 'missingColumn' || d.kind === 'missingIndex');
    super(
      `table ${table} differs from its spec: ${list.join('; ')}. ` +
        (addable && !evolving
          ? 'Pass { evolve: true } to table() to add what is missing, or write a migration'
          : 'table() never drops or changes a column or index: write a migration (see broker.migrate())'),
    );
    this.table = table;
    this.differences = Object.freeze([...differences]);
  }
}

/** Why a live query was refused or stopped. */
export type LiveQueryProblem =
  /** The statement writes (INSERT, UPDATE, DELETE, DDL, a data-modifying CTE), or is not a query. */
  | 'not-a-query'
  /** The database found no table the query reads (a query over functions or constants only). */
  | 'no-tables'
  /** A table it reads cannot be watched (a catalog, a temporary, foreign or virtual table, a materialized view). */
  | 'unwatchable-table'
  /** The `key` gives the same value for two rows of one result. */
  | 'duplicate-key';

/**
 * `broker.live()` was given a query it cannot keep true: one that writes,
 * one whose tables the database cannot name, or a `key` that is not unique
 * in the result. Refused before the first result (or, for a duplicate key,
 * at the result that had it); nothing is written and the broker goes on.
 */
export class LiveQueryError extends SasyncError {
  /** What was wrong. */
  readonly problem: LiveQueryProblem;
  /** The query's SQL. */
  readonly sql: string;
  constructor(problem: LiveQueryProblem, sql: string, message: string, options: SasyncErrorOptions = {}) {
    super(message, options);
    this.problem = problem;
    this.sql = sql;
  }
}

/**
 * The change log could not be read: waiting for a reader to catch up gave
 * up after `attempts` failed reads in a row (each after the reader's
 * backoff, the log table made again first when missing). `cause` is the
 * last read's error. The stores go on listening and resync once a read
 * succeeds; check the database (is it reachable? does `sasync_changes`
 * still have its columns?) and try again.
 */
export class ChangeLogUnreadableError extends SasyncError {
  /** Failed reads in a row before giving up. */
  readonly attempts: number;

  constructor(attempts: number, cause: unknown) {
    const why =
      cause === undefined
        ? 'its reads did not reach the log’s end'
        : `the first failure: ${cause instanceof Error ? cause.message : String(cause)}`;
    super(
      `the change log could not be read (${attempts} tries, ${why}): ` +
        'check that the database is reachable and that sasync_changes has the columns sasync made it with, then try again',
      { cause },
    );
    this.attempts = attempts;
  }
}
