import type { DataSource } from 'typeorm';
import { DatabaseError } from '../../errors';
import type { ConnectionStats } from '../dialect';
import { pgPool } from '../typeorm/postgres-driver';

/** TypeORM's default pool size when neither `poolSize` nor `extra.max` is set. */
const DEFAULT_POOL = 10;

/** The pool size the DataSource was made with. */
export function poolSize(ds: DataSource): number {
  const options = ds.options as { poolSize?: number; extra?: { max?: number } };
  return options.extra?.max ?? options.poolSize ?? DEFAULT_POOL;
}

/**
 * A fifth of the pool (at least one connection) is kept for row streams, so
 * that open streams can never starve transactions or the other way round.
 */
function streamReserve(pool: number): number {
  return Math.max(1, Math.floor(pool / 5));
}

/** Transactions run on the pool less the streams' reserve. @throws DatabaseError for a pool under 2. */
export function transactionSlots(ds: DataSource): number {
  const pool = poolSize(ds);
  if (!(Number.isInteger(pool) && pool >= 2)) {
    throw new DatabaseError(
      `a postgres pool of ${pool} connection(s) is too small: sasync keeps one for row streams; ` +
        'use at least 2 (?max=2 in the URL, or poolSize / extra.max in DataSourceOptions)',
    );
  }
  return pool - streamReserve(pool);
}

export function streamSlots(ds: DataSource): number {
  return streamReserve(poolSize(ds));
}

export function connectionStats(ds: DataSource): ConnectionStats {
  // Closed (after shutdown) or not yet open: no pool, no connections.
  const pool = pgPool(ds);
  if (!ds.isInitialized || !pool) return { open: 0, idle: 0, waiting: 0, max: poolSize(ds) };
  return { open: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize(ds) };
}
