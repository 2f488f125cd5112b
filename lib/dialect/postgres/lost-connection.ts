import type { DataSource, QueryRunner } from 'typeorm';
import { driverErrorCode } from '../driver-error';
import type { LostConnection } from '../dialect';
import { isDead, onFatal, type PgClient } from '../typeorm/pg-client';
import { pgPool, pgPoolClients, runnerClient } from '../typeorm/postgres-driver';

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

/**
 * pg's answer, with no code, to a query sent on a client whose connection
 * already failed or was closed ("Client has encountered a connection error
 * and is not queryable", "Client was closed and is not queryable").
 */
const NOT_QUERYABLE = /and is not queryable$/;

/** Whether `error` says by itself that its connection is gone. */
function saysLost(error: unknown): boolean {
  return LOST_CODES.has(driverErrorCode(error) ?? '') || (error instanceof Error && NOT_QUERYABLE.test(error.message));
}

/** Why each client died: the server's FATAL, else the first error it emitted. */
const lossOf = new WeakMap<object, unknown>();
/** The client that emitted an error (a stream fails with what its client emitted). */
const emitterOf = new WeakMap<object, object>();

/**
 * Every client of the DataSource's pool, now and later, records the first
 * error it emits (a FATAL from the server, a reset socket), so that a call
 * after its death can say why it died. Returns what removes every listener
 * it added (for a DataSource sasync did not make, which its owner goes on
 * using: an 'error' listener would otherwise keep swallowing what pg emits).
 */
export function recordLosses(ds: DataSource): () => void {
  const pool = pgPool(ds);
  if (!pool) return () => undefined;
  const removers = new Map<PgClient, () => void>();
  const record = (client: PgClient) => {
    if (!removers.has(client))
      removers.set(
        client,
        recordLoss(client, () => removers.delete(client)),
      );
  };
  for (const client of pgPoolClients(pool)) record(client);
  pool.on('connect', record);
  return () => {
    pool.off('connect', record);
    for (const remove of [...removers.values()]) remove();
    removers.clear();
  };
}

/** Records `client`'s first error; returns what stops it. `ended` is told when the client ends. */
function recordLoss(client: PgClient, ended: () => void): () => void {
  const first = (error: unknown) => void (lossOf.has(client) || lossOf.set(client, error));
  const stopFatal = onFatal(client, first);
  const onError = (error: unknown) => {
    first(error);
    if (typeof error === 'object' && error !== null) emitterOf.set(error, client);
  };
  client.on('error', onError);
  const onEnd = () => ended();
  client.on('end', onEnd);
  return () => {
    stopFatal();
    client.off('error', onError);
    client.off('end', onEnd);
    ended();
  };
}

/** Whether `error` (or the runner's state) means a lost connection: see DialectConnections.lostConnection. */
export function lostConnection(runner: QueryRunner | undefined, error: unknown): LostConnection | undefined {
  const client = runnerClient(runner);
  const own = saysLost(error) ? error : undefined;
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
}
