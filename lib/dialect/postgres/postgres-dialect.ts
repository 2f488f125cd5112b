import type { DataSource, QueryRunner } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import type { PortableType } from '../../schema/column';
import { DatabaseError, TransactionError } from '../../errors';
import type { RowSource } from '../../rows/row-source';
import {
  driverErrorCode,
  statementError,
  type ConnectionStats,
  type CursorQuery,
  type Dialect,
  type LostConnection,
  type PreparedStatement,
} from '../dialect';
import { concreteType, insertSql } from '../sql';
import { pgDdlTransaction, pgIndexNames } from './ddl';
import { openPgBus } from './pg-bus';
import { withSchemaPath } from './schema-path';
import { bindPostgres } from './bind';
import { declaredCursorSource } from './declared-cursor-source';
import { pgCursorSource, type PgCursorClient } from './pg-cursor-source';
import { BEGIN_READ_ONLY, endReadOnly, readOnlyOr } from './read-only';
import { parsePostgresUrl, POSTGRES_FORMS } from './postgres-target';

const TYPES: Record<PortableType, string> = {
  integer: 'integer',
  smallint: 'smallint',
  bigint: 'bigint',
  float: 'double precision',
  decimal: 'numeric',
  string: 'varchar',
  text: 'text',
  boolean: 'boolean',
  // JavaScript Dates are instants: keep the zone so they read back unchanged.
  datetime: 'timestamptz',
  date: 'date',
  blob: 'bytea',
  json: 'jsonb',
};

/** serialization_failure and deadlock_detected: the transaction may succeed if re-run. */
const RETRYABLE = new Set(['40001', '40P01']);

/** TypeORM's default pool size when neither `poolSize` nor `extra.max` is set. */
const DEFAULT_POOL = 10;

interface PgPool {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  connect(): Promise<
    PgCursorClient & {
      release(error?: Error): void;
      query(text: string): Promise<unknown>;
      on(event: 'error', fn: (e: unknown) => void): void;
      off(event: 'error', fn: (e: unknown) => void): void;
    }
  >;
}

export const postgresDialect: Dialect = {
  name: 'postgres',
  urlForms: POSTGRES_FORMS,
  ownsUrl: (url) => /^postgres(ql)?:\/\//.test(url),
  parseUrl: parsePostgresUrl,

  dataSourceOptions: (options) => withSchemaPath(withPoolDefaults(options as PostgresConnectionOptions)),

  streamSlots: (ds) => streamReserve(poolSize(ds)),

  async openCursor<T>(ds: DataSource, query: CursorQuery, signal: AbortSignal): Promise<RowSource<T>> {
    const parameters = postgresDialect.bindParameters(query.parameters, query.sql);
    const client = await connectUnlessAborted((ds.driver as PostgresDriver).master as PgPool, signal);
    // A connection that dies while the stream is paused (server restart,
    // network) emits 'error' on the client: without a listener that crashes
    // the process. Keep it, and fail the next read with it.
    let broken: unknown;
    const onError = (error: unknown) => (broken ??= error);
    client.on('error', onError);
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
      client.release(failure as Error | undefined);
    };
    // The cursor is queued on the client only at the first read: one queued
    // earlier and closed before pg submitted it would be submitted anyway,
    // with nobody to read or close it, and the ROLLBACK behind it would wait
    // forever (a stream shut down while it opened hung, holding its connection).
    let source: RowSource<T> | undefined;
    let closing: Promise<void> | undefined;
    const cursor = () => (source ??= pgCursorSource<T>(client, query.sql, parameters, release, () => broken));
    // An interrupt ends the read in flight itself: pg does not always fail a
    // cursor's pending read when its socket is destroyed and the client ended
    // (found by the model tests: the read, and the stream, waited forever).
    let stopRead: ((error: Error) => void) | undefined;
    const stopped = new Promise<never>((_, reject) => (stopRead = reject));
    stopped.catch(() => undefined);
    return {
      read: async (n) => {
        await begun;
        if (beginFailed !== undefined) throw beginFailed;
        if (interrupted) throw interrupted;
        if (closing) throw new Error('the stream is closed');
        return Promise.race([cursor().read(n), stopped]).catch((err: unknown) => {
          throw readOnlyOr(err, query.sql);
        });
      },
      // An interrupted stream's socket is gone: closing its portal would wait
      // for an answer that never comes; the client is dropped, not pooled.
      close: () => (closing ??= source && !interrupted ? source.close() : release()),
      interrupt: () => {
        interrupted = new Error('the stream was interrupted');
        stopRead?.(interrupted);
        void cancelBackend(client as unknown as PgClient).catch(() => undefined);
        // A server that does not answer (frozen) would hold the read forever:
        // the client is not pooled again anyway, so its socket goes now.
        destroySocket(client);
      },
    };
  },

  async openCursorOn<T>(runner: QueryRunner, query: CursorQuery): Promise<RowSource<T>> {
    return declaredCursorSource<T>(runner, query.sql, query.parameters);
  },

  async insertRow(runner, table, row, key) {
    const sql = insertSql(table, Object.keys(row), postgresDialect.placeholder, key);
    const rows: Record<string, unknown>[] = await runner.query(sql, Object.values(row));
    return key ? (rows[0]?.[key] ?? null) : null;
  },

  // pg keeps the names it has prepared per client and sends Parse only the
  // first time a client sees one; the server keeps it for the connection's life.
  async runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]> {
    const values = postgresDialect.bindParameters(parameters, statement.sql);
    const client = (await runner.connect()) as PgNamedClient;
    try {
      const result = await client.query({ name: statement.id, text: statement.sql, values });
      return result.rows;
    } catch (err) {
      throw statementError(err, statement.sql, parameters);
    }
  },

  // Every client records the first error it emits (a FATAL from the server,
  // a reset socket), so that a call after its death can say why it died.
  prepareConnection(ds: DataSource): void {
    const pool = (ds.driver as PostgresDriver).master as PgPool & {
      _clients?: object[];
      on(event: 'connect', fn: (client: PgEmitter) => void): void;
    };
    for (const client of pool._clients ?? []) recordLoss(client as PgEmitter);
    pool.on('connect', recordLoss);
  },

  lostConnection(runner: QueryRunner | undefined, error: unknown): LostConnection | undefined {
    const client = (runner as unknown as PgRunner | undefined)?.databaseConnection;
    const own = LOST_CODES.has(driverErrorCode(error) ?? '') ? error : undefined;
    if (runner === undefined || client === undefined) {
      // An error a client emitted as it died: why it died (a FATAL has the code).
      const emitter = typeof error === 'object' && error !== null ? emitterOf.get(error) : undefined;
      const died = emitter === undefined ? undefined : lossOf.get(emitter);
      const cause = own ?? died;
      return cause === undefined ? undefined : { error: cause, connecting: runner !== undefined && died === undefined };
    }
    const died = lossOf.get(client) ?? (isDead(client) ? (error ?? new Error('the connection ended')) : undefined);
    const cause = own ?? died;
    return cause === undefined ? undefined : { error: cause, connecting: false };
  },

  placeholder: (n) => `$${n}`,

  openBus: (ds, options) => openPgBus(ds, options),

  // Closing the pool closes the connections, and with them their statements.
  releasePrepared: async () => undefined,

  transactionSlots(ds: DataSource): number {
    const pool = poolSize(ds);
    if (!(Number.isInteger(pool) && pool >= 2)) {
      throw new DatabaseError(
        `a postgres pool of ${pool} connection(s) is too small: sasync keeps one for row streams; ` +
          'use at least 2 (?max=2 in the URL, or poolSize / extra.max in DataSourceOptions)',
      );
    }
    return pool - streamReserve(pool);
  },

  columnType: (column) => concreteType(TYPES, column),

  isRetryable: (error) => RETRYABLE.has(driverErrorCode(error) ?? ''),

  isolation: (level) => level,

  bindParameters: bindPostgres,

  connectionStats(ds: DataSource): ConnectionStats {
    // Closed (after shutdown) or not yet open: no pool, no connections.
    const pool = (ds.driver as PostgresDriver | undefined)?.master as PgPool | undefined;
    if (!ds.isInitialized || !pool) return { open: 0, idle: 0, waiting: 0, max: poolSize(ds) };
    return { open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize(ds) };
  },

  // In the DataSource's schema, where TypeORM creates the table and its indexes.
  indexNames: pgIndexNames,

  async interrupt(runner: QueryRunner): Promise<boolean> {
    const client = (runner as unknown as { databaseConnection?: PgClient }).databaseConnection;
    // Nothing running (the work waits on something else): a plain ROLLBACK
    // will do, and the connection goes back to the pool.
    if (!client?.processID || !client._activeQuery) return false;
    // The cancel may reach the backend after its statement ended, so the
    // caller discards this connection afterwards rather than hand it to
    // someone whose query the cancel could hit.
    await cancelBackend(client);
    return true;
  },

  // Releasing with an error makes pg-pool destroy the client instead of
  // handing a connection in an unknown transaction state to the next caller.
  discard: (runner, error) =>
    (runner as unknown as PgRunner).releasePostgresConnection(error ?? new Error('discarded')),

  async destroy(runner: QueryRunner): Promise<void> {
    const pg = runner as unknown as PgRunner;
    // Still connecting: the client comes (or fails) within the connect timeout.
    if (!pg.databaseConnection) await pg.databaseConnectionPromise?.catch(() => undefined);
    const client = pg.databaseConnection;
    // pg-pool drops a client released with an error, and ends it; ending
    // waits for a server that may never answer, so the socket goes now.
    await pg.releasePostgresConnection(new Error('destroyed: the server did not answer in time'));
    destroySocket(client);
  },

  // The server owns its files: a committed write is durable wherever they are.
  // But work that caught a failed statement and went on has a transaction the
  // server already aborted: postgres would answer COMMIT with ROLLBACK, and the
  // caller would be told its writes were committed when none were.
  verifyWritable(runner: QueryRunner): Promise<void> | void {
    const client = (runner as unknown as PgRunner).databaseConnection;
    if (!client) return;
    // A failed statement's promise settles at its ErrorResponse; the status
    // comes with the ReadyForQuery right behind it, which may not be here yet.
    // (No Promise when it is here: this runs for every transaction.)
    if (!client.readyForQuery) return readyForQuery(client).then(() => refuseAborted(client));
    refuseAborted(client);
  },

  // Table creation under an advisory lock, so that processes starting at once do not collide.
  ddlTransaction: pgDdlTransaction,
};

/** How long opening a connection may take unless the target says otherwise (libpq has no limit). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Connecting is bounded (a server that accepts and never answers fails in
 * connectTimeoutMS, not never), and idle pool connections do not keep the
 * process alive: a program that forgets shutdown() still exits. The user's
 * own settings win.
 */
function withPoolDefaults(options: PostgresConnectionOptions): PostgresConnectionOptions {
  return {
    ...options,
    connectTimeoutMS: options.connectTimeoutMS ?? DEFAULT_CONNECT_TIMEOUT_MS,
    extra: { allowExitOnIdle: true, ...options.extra },
  };
}

/**
 * pg_cancel_backend from a short-lived session of its own (never a pooled one:
 * the pool may be exhausted), with a connect timeout.
 */
async function cancelBackend(client: PgClient): Promise<void> {
  const Client = client.constructor as new (params: unknown) => PgClient;
  const params = client.connectionParameters as Record<string, unknown>;
  const canceller = new Client({ ...params, password: params.password, connectionTimeoutMillis: 5000 });
  try {
    await canceller.connect();
    await canceller.query('SELECT pg_cancel_backend($1)', [client.processID]);
  } finally {
    await canceller.end().catch(() => undefined);
  }
}

/** Throws if the server has aborted the client's transaction (see verifyWritable). */
function refuseAborted(client: PgClient): void {
  if (client.getTransactionStatus?.() !== 'E') return;
  throw new TransactionError(
    'the work caught a failed statement and went on, but postgres had already aborted the transaction ' +
      '(it answers COMMIT with ROLLBACK), so nothing it wrote was kept: let the error propagate, or run ' +
      'the part that may fail in a nested transaction with { savepoint: true }',
    { cause: Object.assign(new Error('current transaction is aborted'), { code: '25P02' }), dialect: 'postgres' },
  );
}

/** Resolves at the client's next ReadyForQuery, or when its connection ends (then nothing more comes). */
function readyForQuery(client: PgClient): Promise<void> {
  const connection = client.connection;
  if (!connection) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      connection.off('readyForQuery', done);
      connection.off('end', done);
      resolve();
    };
    connection.on('readyForQuery', done);
    connection.on('end', done);
  });
}

interface PgClient {
  processID: number | null;
  /** pg's own record of the query on the wire (what its deprecated activeQuery getter returns). */
  _activeQuery?: unknown;
  connectionParameters: unknown;
  /** False between sending a statement and the server's ReadyForQuery after it. */
  readyForQuery?: boolean;
  /** The protocol connection (an EventEmitter of backend messages). */
  connection?: {
    on(event: string, fn: () => void): void;
    off(event: string, fn: () => void): void;
  };
  /** The status of the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' in a failed one. */
  getTransactionStatus?(): string | null;
  connect(): Promise<void>;
  query(sql: string, values: unknown[]): Promise<unknown>;
  end(): Promise<void>;
}

interface PgNamedClient {
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
}

interface PgRunner {
  releasePostgresConnection(err?: unknown): Promise<void>;
  databaseConnection?: PgClient;
  databaseConnectionPromise?: Promise<unknown>;
}

/**
 * Codes that mean the connection is gone: the server terminated the backend
 * or shut down (57P01), crashed (57P02), is starting or stopping (57P03),
 * connection exceptions (08xxx), and the socket's own.
 */
const LOST_CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

interface PgEmitter {
  on(event: 'error', fn: (e: unknown) => void): void;
  connection?: { on(event: 'errorMessage', fn: (e: { severity?: string }) => void): void };
}

/** Why each client died: the server's FATAL, else the first error it emitted. */
const lossOf = new WeakMap<object, unknown>();
/** The client that emitted an error (a stream fails with what its client emitted). */
const emitterOf = new WeakMap<object, object>();

function recordLoss(client: PgEmitter): void {
  const first = (error: unknown) => void (lossOf.has(client) || lossOf.set(client, error));
  // A FATAL goes to the query in flight, if any, not to 'error': catch it on its way.
  client.connection?.on('errorMessage', (message) => {
    if (message.severity === 'FATAL' || message.severity === 'PANIC') first(message);
  });
  client.on('error', (error) => {
    first(error);
    if (typeof error === 'object' && error !== null) emitterOf.set(error, client);
  });
}

/** pg's own flags: the client's connection has ended or can take no more queries. */
function isDead(client: unknown): boolean {
  const c = client as { _ending?: boolean; _ended?: boolean; _queryable?: boolean };
  return c._ended === true || c._queryable === false;
}

type PooledClient = Awaited<ReturnType<PgPool['connect']>>;

/**
 * A client from the pool, unless `signal` aborts first: then the wait ends at
 * once (a frozen server would hold it for the whole connect timeout). pg-pool
 * cannot take a wait back: a client that comes later goes back to the pool.
 */
function connectUnlessAborted(pool: PgPool, signal: AbortSignal): Promise<PooledClient> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    pool.connect().then(
      (client) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) client.release();
        else resolve(client);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err as Error);
      },
    );
  });
}

/** Closes a client's socket at once: nothing more is sent or waited for. */
function destroySocket(client: unknown): void {
  (client as { connection?: { stream?: { destroy(): void } } } | undefined)?.connection?.stream?.destroy();
}

/**
 * A fifth of the pool (at least one connection) is kept for row streams, so
 * that open streams can never starve transactions or the other way round.
 */
function streamReserve(pool: number): number {
  return Math.max(1, Math.floor(pool / 5));
}

function poolSize(ds: DataSource): number {
  const options = ds.options as { poolSize?: number; extra?: { max?: number } };
  return options.extra?.max ?? options.poolSize ?? DEFAULT_POOL;
}
