import type { DataSourceOptions } from 'typeorm';
import type { Dialect } from './dialect';
import { postgresDialect } from './postgres/postgres-dialect';
import { sqliteDialect } from './sqlite/sqlite-dialect';

export type { ConnectionStats, CursorQuery, Dialect, PreparedStatement } from './dialect';
export { driverErrorCode } from './dialect';

const DIALECTS: Partial<Record<DataSourceOptions['type'], Dialect>> = {
  sqlite: sqliteDialect,
  postgres: postgresDialect,
};

/** The dialect for DataSource options whose type `resolveTarget` has already checked. */
export function dialectFor(options: DataSourceOptions): Dialect {
  const dialect = DIALECTS[options.type];
  if (!dialect) throw new TypeError(`no sasync dialect for database type ${options.type}`);
  return dialect;
}
