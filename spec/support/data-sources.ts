import { DataSource, type DataSourceOptions } from 'typeorm';
import { PG_URL, type TestTarget } from './targets';

/** Options of an app's own DataSource on a test target (a new file for sqlite files). */
export function appOptions(t: TestTarget, extra: Partial<DataSourceOptions> = {}): DataSourceOptions {
  if (t.name === 'postgres') return { type: 'postgres', url: PG_URL, ...extra } as DataSourceOptions;
  const database = t.name === 'sqlite-memory' ? ':memory:' : t.target().slice('sqlite:'.length);
  return { type: 'sqlite', database, ...extra } as DataSourceOptions;
}

/** An app's own DataSource on a test target, not initialized. */
export function appDataSource(t: TestTarget, extra: Partial<DataSourceOptions> = {}): DataSource {
  return new DataSource(appOptions(t, extra));
}

/** The members sasync replaces on a live DataSource while it uses it: none must be left behind. */
export function ownMembers(ds: DataSource): string[] {
  const driver = ds.driver as unknown as Record<string, unknown>;
  const runner = (driver as { queryRunner?: object }).queryRunner;
  return [
    ...['createQueryRunner', 'destroy', 'initialize'].filter((m) => Object.hasOwn(ds, m)),
    ...['escapeQueryWithParameters', 'preparePersistentValue'].filter((m) => Object.hasOwn(driver, m)),
    ...Object.getOwnPropertySymbols(driver).map(String),
    ...(runner && Object.hasOwn(runner, 'query') ? ['queryRunner.query'] : []),
    ...(runner ? Object.getOwnPropertySymbols(runner).map(String) : []),
  ];
}

/**
 * Listeners on a postgres DataSource's pool ('connect') and on each of its
 * clients ('error', 'end', and the protocol's 'errorMessage'); none on sqlite.
 */
export function poolListeners(ds: DataSource): { pool: number; clients: number[] } {
  const pool = (ds.driver as unknown as { master?: PoolLike }).master;
  if (!pool) return { pool: 0, clients: [] };
  return {
    pool: pool.listenerCount('connect'),
    clients: (pool._clients ?? []).map(
      (c) => c.listenerCount('error') + c.listenerCount('end') + c.connection.listenerCount('errorMessage'),
    ),
  };
}

interface Emitter {
  listenerCount(event: string): number;
}
interface PoolLike extends Emitter {
  _clients?: (Emitter & { connection: Emitter })[];
}
