import type { DataSourceOptions } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { loadDriver } from '../load-driver';

/** How long opening a connection may take unless the target says otherwise (libpq has no limit). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The options a postgres DataSource is made with: the caller's, with the defaults below.
 * @throws DatabaseError when pg or pg-cursor is not installed: said when the
 *   broker is made, not at its first transaction or stream.
 */
export function postgresOptions(options: DataSourceOptions): DataSourceOptions {
  // Loaded now, although the change bus and row streams use them later: a
  // missing one is an install to fix, better told before any work is queued.
  loadDriver('pg');
  loadDriver('pg-cursor');
  return withSchemaPath(withPoolDefaults(options as PostgresConnectionOptions));
}

/**
 * Connecting is bounded (a server that accepts and never answers fails in
 * connectTimeoutMS, not never), and idle pool connections do not keep the
 * process alive: a program that forgets shutdown() still exits. The user's
 * own settings win.
 */
function withPoolDefaults(options: PostgresConnectionOptions): PostgresConnectionOptions {
  return {
    ...options,
    connectTimeoutMS: options.connectTimeoutMS ?? DEFAULT_CONNECT_TIMEOUT_MS,
    extra: { allowExitOnIdle: true, ...options.extra },
  };
}

/**
 * With a `schema` in the options, TypeORM makes tables there but the SQL a
 * broker runs (the stores' among it) names tables without a schema, and
 * postgres looks them up on the search_path: public. So every connection of
 * the DataSource starts with `search_path = "<schema>", public`, and the
 * tables, the index checks (current_schema()) and the statements all agree.
 * The user's own startup options are kept, after it.
 */
function withSchemaPath(options: PostgresConnectionOptions): PostgresConnectionOptions {
  const { schema } = options;
  if (!schema) return options;
  const extra = (options.extra ?? {}) as { options?: string };
  // libpq's options string: words separated by spaces, a backslash escapes the next character.
  const path = `"${schema.replace(/"/g, '""')}",public`.replace(/[\\ ]/g, (c) => `\\${c}`);
  const startup = [`-c search_path=${path}`, extra.options].filter(Boolean).join(' ');
  return { ...options, extra: { ...extra, options: startup } };
}
