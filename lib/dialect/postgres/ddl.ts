import { createHash } from 'node:crypto';
import type { QueryRunner } from 'typeorm';

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
 * transaction, the lock is held until that one ends. A failure is left to the
 * caller, which rolls back (and discards the connection if that fails).
 */
export async function pgDdlTransaction<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  const own = !runner.isTransactionActive;
  if (own) await runner.startTransaction();
  await runner.query('SELECT pg_advisory_xact_lock($1::bigint)', [DDL_LOCK_KEY]);
  const result = await work();
  if (own) await runner.commitTransaction();
  return result;
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
