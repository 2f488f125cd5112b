import type { DataSourceOptions } from 'typeorm';
import type { Dialect } from './dialect';
import { postgresDialect } from './postgres/dialect';
import { sqliteDialect } from './sqlite/dialect';

export type {
  AdvisoryLockSession,
  BusListener,
  BusOptions,
  BusState,
  ChangeBus,
  ConnectionStats,
  CursorCancel,
  CursorQuery,
  Dialect,
  DialectCapabilities,
  IsolationLevel,
  ParsedTarget,
  PreparedStatement,
} from './dialect';
export { newDataSource } from './new-data-source';
export { shareInitialize, watchOwnerDestroy } from './typeorm/adopted';
export { redactPassword, TargetSyntaxError } from './target-syntax';

const DIALECTS: Partial<Record<DataSourceOptions['type'], Dialect>> = {
  sqlite: sqliteDialect,
  postgres: postgresDialect,
};

/** Every dialect, in the order target URLs are matched. */
export const DIALECT_LIST: readonly Dialect[] = [sqliteDialect, postgresDialect];

/** The dialect whose scheme a target URL has, if any. */
export function dialectForUrl(url: string): Dialect | undefined {
  return DIALECT_LIST.find((d) => d.ownsUrl(url));
}

/** The dialect for DataSource options whose type `resolveTarget` has already checked. */
export function dialectFor(options: DataSourceOptions): Dialect {
  const dialect = DIALECTS[options.type];
  if (!dialect) throw new TypeError(`no sasync dialect for database type ${options.type}`);
  return dialect;
}
