import type Cursor from 'pg-cursor';

/**
 * The pg Client as sasync uses it, its internals included: each one's use
 * is explained by the function below that reads it. pg's public API has no
 * way to ask whether a client is running a query, has died, or is in a
 * failed transaction, nor to close its socket at once.
 */
export interface PgClient {
  processID: number | null;
  /** pg's own record of the query on the wire (what its deprecated activeQuery getter returns). */
  _activeQuery?: unknown;
  _ended?: boolean;
  _queryable?: boolean;
  connectionParameters: unknown;
  /** False between sending a statement and the server's ReadyForQuery after it. */
  readyForQuery?: boolean;
  /** The protocol connection (an EventEmitter of backend messages) and its socket. */
  connection?: {
    on(event: string, fn: (message: { severity?: string }) => void): void;
    off(event: string, fn: () => void): void;
    stream?: { destroy(): void; cork?(): void; uncork?(): void };
  };
  /** The status of the last ReadyForQuery: 'I' idle, 'T' in a transaction, 'E' in a failed one. */
  getTransactionStatus?(): string | null;
  connect(): Promise<void>;
  query(sql: string, values?: unknown[]): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error', fn: (e: unknown) => void): void;
  on(event: 'end', fn: () => void): void;
  off(event: 'error', fn: (e: unknown) => void): void;
  off(event: 'end', fn: () => void): void;
}

/** A client checked out of pg-pool: it also runs cursors and named statements, and goes back with release(). */
export interface PooledClient extends PgClient {
  query(sql: string, values?: unknown[]): Promise<unknown>;
  query(cursor: Cursor): Cursor;
  query(config: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[] }>;
  /** With an error, pg-pool destroys the client instead of pooling it. */
  release(error?: Error): void;
}

/**
 * Whether the client has a statement on the wire now.
 *
 * pg internal: `_activeQuery` (the deprecated public `activeQuery` getter
 * warns). Why: a cancelled transaction interrupts only a running statement;
 * one waiting on something else just rolls back and keeps its connection.
 * Breaks if pg renames it: no statement would be interrupted, and a
 * cancelled long query would hold the queue (spec/transaction/cancellation.spec.ts).
 */
export function isRunning(client: PgClient): boolean {
  return Boolean(client.processID && client._activeQuery);
}

/**
 * Whether the client's connection has ended or can take no more queries.
 *
 * pg internal: `_ended` and `_queryable`. Why: a runner whose connection
 * died between statements must fail as a lost connection, not as TypeORM's
 * "already released" (spec/faults/lost-connection.spec.ts).
 */
export function isDead(client: PgClient): boolean {
  return client._ended === true || client._queryable === false;
}

/**
 * The transaction status of the client's last ReadyForQuery ('E': the
 * server aborted the transaction), resolved once that message is here.
 *
 * pg internals: `readyForQuery`, `getTransactionStatus()` and the protocol
 * `connection`'s 'readyForQuery' event. Why: a failed statement's promise
 * settles at its ErrorResponse, before the ReadyForQuery that says the
 * transaction is aborted; COMMIT would then roll back while reporting
 * success. Synchronous when the message is here (the common case: no
 * Promise per transaction). Breaks if pg renames them: caught work would
 * be reported committed (spec/transaction/caught-error.spec.ts).
 */
export function transactionStatus(client: PgClient): string | null | undefined | Promise<string | null | undefined> {
  // A dead client gets no more messages: what it last heard is all there is (waiting would hang).
  if (client.readyForQuery || isDead(client)) return client.getTransactionStatus?.();
  return readyForQuery(client).then(() => client.getTransactionStatus?.());
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

/**
 * Calls `fn` with the server's FATAL or PANIC message to the client.
 *
 * pg internal: the protocol `connection`'s 'errorMessage' event. Why: a
 * FATAL goes to the query in flight, if any, not to the client's 'error':
 * it is caught on its way, so that a lost connection is reported with the
 * server's reason (57P01…). Breaks if pg renames it: the reason is lost
 * (spec/faults/lost-connection.spec.ts). Returns what removes the listener.
 */
export function onFatal(client: PgClient, fn: (message: unknown) => void): () => void {
  const listener = (message: { severity?: string }) => {
    if (message.severity === 'FATAL' || message.severity === 'PANIC') fn(message);
  };
  const connection = client.connection;
  connection?.on('errorMessage', listener);
  return () => connection?.off('errorMessage', listener as () => void);
}

/**
 * Closes a client's socket at once: nothing more is sent or waited for.
 *
 * pg internal: `connection.stream`. Why: ending a client waits for a server
 * that may never answer (frozen, unreachable); a cancelled stream or
 * transaction must not. Breaks if pg renames it: a frozen server holds the
 * queue (spec/faults/frozen-server.spec.ts).
 */
export function destroySocket(client: PgClient | undefined): void {
  client?.connection?.stream?.destroy();
}

/**
 * pg_cancel_backend from a short-lived session of its own (never a pooled
 * one: the pool may be exhausted), with a connect timeout.
 *
 * pg internals: the client's `constructor` and `connectionParameters`. Why:
 * the cancelling session connects exactly as the cancelled one did (host,
 * user, password, ssl), whatever form the target had. Breaks if pg renames
 * them: interrupts fail (spec/transaction/cancellation.spec.ts,
 * spec/rows/abort-between-reads.spec.ts).
 */
export async function cancelBackend(client: PgClient): Promise<void> {
  const Client = client.constructor as new (params: unknown) => PgClient;
  const params = client.connectionParameters as Record<string, unknown>;
  const canceller = new Client({
    ...params,
    password: params.password,
    // Named apart, so that it never counts as one of the app's sessions (monitoring by application_name).
    application_name: CANCEL_APPLICATION_NAME,
    connectionTimeoutMillis: CANCEL_TIMEOUT_MS,
    // A server that accepts and then stops answering must not hold this session (and the process) open.
    query_timeout: CANCEL_TIMEOUT_MS,
  });
  // After a query_timeout, pg reports the connection's later failure as an 'error' event: never uncaught.
  canceller.on('error', () => undefined);
  try {
    await canceller.connect();
    await canceller.query('SELECT pg_cancel_backend($1)', [client.processID]);
  } finally {
    await endWithin(canceller, CANCEL_TIMEOUT_MS);
  }
}

/** The cancelling session's name in pg_stat_activity. */
export const CANCEL_APPLICATION_NAME = 'sasync-cancel';

/** How long the cancelling session may take to connect, to answer, and to end. */
const CANCEL_TIMEOUT_MS = 5000;

/** Ends `client`, or closes its socket if the server does not answer within `ms`. */
async function endWithin(client: PgClient, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      destroySocket(client);
      resolve();
    }, ms);
    timer.unref();
  });
  await Promise.race([client.end().catch(() => undefined), late]);
  clearTimeout(timer);
}

/**
 * pg's Client.unref() (missing from @types/pg): its socket no longer holds
 * the event loop. Why: the change bus's listening connection must not keep a
 * program alive that forgot shutdown() (spec/faults/exit-without-shutdown.spec.ts).
 */
export function unref(client: object): void {
  (client as { unref?: () => void }).unref?.();
}
