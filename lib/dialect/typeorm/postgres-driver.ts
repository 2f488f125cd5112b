import type { ClientConfig } from 'pg';
import type { DataSource, QueryRunner } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { clock, type TimerHandle } from '../../clock';
import type { PgClient, PooledClient } from './pg-client';

/** The part of pg-pool's Pool sasync uses. */
export interface PgPool {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  /** The settings every client of the pool connects with. */
  readonly options: ClientConfig;
  connect(): Promise<PooledClient>;
  on(event: 'connect', fn: (client: PgClient) => void): void;
  off(event: 'connect', fn: (client: PgClient) => void): void;
  /** A client given back to the pool (with the error it was released with, if any). */
  on(event: 'release', fn: (err: unknown, client: PgClient) => void): void;
  off(event: 'release', fn: (err: unknown, client: PgClient) => void): void;
}

/**
 * The pg-pool of a postgres DataSource; undefined before it is initialized.
 *
 * TypeORM internal: `PostgresDriver.master`, the pool TypeORM made (public
 * in its typings, undocumented). Why: a stream takes a client of its own
 * from the same pool, within its limits; the change bus connects with the
 * pool's settings; connectionStats reads its counts. Breaks if TypeORM
 * renames it or stops pooling with pg-pool. Caught by spec/rows/budget.spec.ts,
 * spec/dialect/change-bus.spec.ts and spec/broker/lifecycle.spec.ts.
 */
export function pgPool(ds: DataSource): PgPool | undefined {
  return (ds.driver as PostgresDriver | undefined)?.master as PgPool | undefined;
}

/**
 * The clients a pool has opened so far.
 *
 * pg-pool internal: `_clients`. Why: clients opened before sasync set up
 * the DataSource (TypeORM's own at initialize()) get the same loss
 * recording as later ones, which the pool's 'connect' event covers. Breaks
 * if pg-pool renames it: those first clients would die without a reason
 * (spec/faults/lost-connection.spec.ts).
 */
export function pgPoolClients(pool: PgPool): readonly PgClient[] {
  return (pool as PgPool & { _clients?: PgClient[] })._clients ?? [];
}

/** What sasync reads and calls on TypeORM's PostgresQueryRunner beyond its QueryRunner interface. */
interface PgRunner {
  releasePostgresConnection(err?: unknown): Promise<void>;
  databaseConnection?: PgClient;
  databaseConnectionPromise?: Promise<unknown>;
}

/**
 * The pg client a postgres runner holds; undefined before its first
 * statement, once released, or while it is still connecting.
 *
 * TypeORM internal: PostgresQueryRunner's `databaseConnection`. Why: to
 * interrupt the statement it runs (spec/transaction/cancellation.spec.ts),
 * to see that COMMIT would roll back (spec/transaction/caught-error.spec.ts)
 * and that its connection died (spec/faults/lost-connection.spec.ts). Breaks
 * if TypeORM renames it: all three specs fail.
 */
export function runnerClient(runner: QueryRunner | undefined): PgClient | undefined {
  return (runner as unknown as PgRunner | undefined)?.databaseConnection;
}

/**
 * The runner's client, waiting for one still being opened (bounded by the
 * connect timeout); undefined if opening failed or never started.
 *
 * TypeORM internal: PostgresQueryRunner's `databaseConnectionPromise`. Why:
 * a transaction cancelled while its connection opens must still destroy
 * that connection once it comes (spec/faults/frozen-server.spec.ts).
 */
export async function settledRunnerClient(runner: QueryRunner): Promise<PgClient | undefined> {
  const pg = runner as unknown as PgRunner;
  if (pg.databaseConnection || !pg.databaseConnectionPromise) return pg.databaseConnection;
  // pg-pool never answers a connect that was waiting when the pool ended
  // (its owner destroyed the DataSource): not waited for then, nor for long.
  if (poolEnded(runner)) return undefined;
  let timer: TimerHandle | undefined;
  const bound = new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, CONNECT_WAIT_MS, { unref: true })));
  await Promise.race([pg.databaseConnectionPromise.catch(() => undefined), bound]);
  clock.clearTimeout(timer);
  return pg.databaseConnection;
}

/** The longest a runner's connection is waited for before it is given up (a pool that never answers). */
export const CONNECT_WAIT_MS = 10_000;

/**
 * Whether the runner's pool was ended: TypeORM's disconnect() drops the
 * driver's `master` pool, and pg-pool's end() sets its `ending` flag
 * (TypeORM and pg-pool internals).
 */
function poolEnded(runner: QueryRunner): boolean {
  const driver = (runner as unknown as { driver?: { master?: { ending?: boolean } } }).driver;
  return driver !== undefined && (driver.master === undefined || driver.master.ending === true);
}

/**
 * Releases the runner's client to the pool with an error, which makes
 * pg-pool destroy it instead of handing a connection in an unknown
 * transaction state to the next caller.
 *
 * TypeORM internal: PostgresQueryRunner's `releasePostgresConnection(err)`
 * (its public release() takes no error and would pool the client again).
 * Breaks if TypeORM renames it or stops passing the error on to pg-pool: a
 * cancelled transaction's connection would be reused with the cancel still
 * on its way (spec/transaction/cancellation.spec.ts,
 * spec/faults/frozen-server.spec.ts).
 */
export function releaseRunnerClient(runner: QueryRunner, error: unknown): Promise<void> {
  return (runner as unknown as PgRunner).releasePostgresConnection(error);
}
