import { createHash } from 'node:crypto';
import type { QueryRunner } from 'typeorm';
import { TimeoutError } from '../../errors';
import { DDL_LOCK_TIMEOUT } from '../../schema/introspector';
import { driverErrorCode } from '../driver-error';

/**
 * The advisory lock every sasync process on a database takes around table and
 * index creation: the first 64 bits of SHA-256("sasync-ddl"), so that it is
 * the same in every version and unlikely to be an application's own key.
 */
export const DDL_LOCK_KEY = createHash('sha256').update('sasync-ddl').digest().readBigInt64BE(0).toString();

/**
 * Runs table and index creation in a transaction that holds the DDL lock
 * before it reads the catalog: another process creating the same tables
 * waits, then finds them (READ COMMITTED reads the catalog afresh per
 * statement). Without it, two creations both see "missing" and the second
 * fails on pg_type's unique index (23505) or with 42P07. Joined to an outer
 * transaction, the lock is held until that one ends. The wait for it is
 * bounded (`lockTimeout` ms, then TimeoutError). A failure is left to the
 * caller, which rolls back (and discards the connection if that fails).
 */
export async function pgDdlTransaction<T>(
  runner: QueryRunner,
  work: () => Promise<T>,
  lockTimeout = DDL_LOCK_TIMEOUT,
): Promise<T> {
  const own = !runner.isTransactionActive;
  if (own) await runner.startTransaction();
  await takeDdlLock(runner, lockTimeout);
  const result = await work();
  if (own) await runner.commitTransaction();
  return result;
}

/**
 * Waits at most `timeout` ms for the DDL lock. lock_timeout bounds that one
 * statement: it is set for the transaction just before and put back just
 * after, so the work's own DDL waits for its tables as the app configured.
 * Failing, the transaction is aborted; the caller rolls it back.
 */
async function takeDdlLock(runner: QueryRunner, timeout: number): Promise<void> {
  const [setting] = (await runner.query(
    "SELECT current_setting('lock_timeout') AS previous, set_config('lock_timeout', $1, true)",
    [`${Math.max(1, Math.ceil(timeout))}ms`],
  )) as { previous: string }[];
  try {
    await runner.query('SELECT pg_advisory_xact_lock($1::bigint)', [DDL_LOCK_KEY]);
  } catch (cause) {
    // 55P03 lock_not_available: lock_timeout ran out.
    if (driverErrorCode(cause) !== '55P03') throw cause;
    throw new TimeoutError(
      `waited ${timeout} ms for sasync's DDL lock, held by another connection creating tables or running ` +
        'migrations: nothing was changed. Try again once it is done, or find what holds it ' +
        `(pg_locks where locktype = 'advisory'; the key is ${DDL_LOCK_KEY})`,
      { timeout, cause },
    );
  }
  await runner.query("SELECT set_config('lock_timeout', $1, true)", [setting!.previous]);
}

/**
 * Index names on a table in the schema TypeORM creates it in: the
 * DataSource's `schema` option, else the connection's current schema.
 */
export async function pgIndexNames(runner: QueryRunner, table: string): Promise<string[]> {
  const schema = (runner.connection.options as { schema?: string }).schema ?? null;
  const rows: { indexname: string }[] = await runner.query(
    'SELECT indexname FROM pg_indexes WHERE schemaname = COALESCE($2, current_schema()) AND tablename = $1',
    [table, schema],
  );
  return rows.map((r) => r.indexname);
}
