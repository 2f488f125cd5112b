import type { DataSource } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { DatabaseError } from '../../errors';
import { loadDriver } from '../load-driver';

/**
 * Checks an app's postgres DataSource. Its pool must have room for one
 * transaction and one row stream (checked with the slots, see pool.ts).
 * A `schema` other than public must be on the search_path of its
 * connections, since the statements sasync runs (its stores' among them)
 * name tables without a schema: sasync adds it to the options of the
 * DataSources it makes, and cannot to an app's.
 * @throws DatabaseError for a schema that is not on the search_path, or
 *   when pg-cursor (for row streams) is not installed.
 */
export function checkPostgresDataSource(ds: DataSource): void {
  loadDriver('pg-cursor');
  const options = ds.options as PostgresConnectionOptions;
  const { schema } = options;
  if (!schema || schema === 'public') return;
  const startup = (options.extra as { options?: unknown } | undefined)?.options;
  if (typeof startup === 'string' && startup.includes('search_path')) return;
  throw new DatabaseError(
    `the postgres DataSource's schema '${schema}' is not on its connections' search_path, so sasync's statements ` +
      `would not find the tables it makes there: add extra: { options: '-c search_path=${schema},public' } ` +
      'to its options',
    { target: 'postgres DataSource' },
  );
}

/**
 * Nothing to apply at run time: what sasync sets on its own postgres
 * DataSources (connectTimeoutMS, extra.allowExitOnIdle) are pool settings
 * an app's DataSource has made already. See the README's "An existing
 * DataSource" for what to set.
 */
export async function tunePostgresDataSource(): Promise<() => Promise<void>> {
  return async () => undefined;
}
