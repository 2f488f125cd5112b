import type { DataSource } from 'typeorm';
import type { ConnectionStats } from '../dialect';
import { ownQueryRunner } from '../typeorm/outside-calls';
import { readsOnOneConnection } from './options';

/** Row streams that may read at once, each on a reader connection of its own. */
const READERS = 4;

/**
 * TypeORM's sqlite driver has one connection and one shared QueryRunner.
 * Two overlapping TypeORM transactions on it silently nest as a SAVEPOINT,
 * so a later failure rolls back an earlier, already resolved transaction:
 * sasync runs sqlite transactions one at a time instead.
 */
export function transactionSlots(): number {
  return 1;
}

/**
 * Reader connections are cheap and read while the writer commits (WAL);
 * an in-memory database has only its one connection, and a file not in WAL
 * mode takes no reader beside its writer (see readsOnOneConnection).
 */
export function streamSlots(ds: DataSource): number {
  return readsOnOneConnection(ds) ? 0 : READERS;
}

export function connectionStats(ds: DataSource): ConnectionStats {
  const busy = ds.isInitialized && ownQueryRunner(ds).isTransactionActive;
  return { open: ds.isInitialized ? 1 : 0, idle: ds.isInitialized && !busy ? 1 : 0, waiting: 0, max: 1 };
}
