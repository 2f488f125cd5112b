import type { DataSourceOptions } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { DatabaseError } from '../../errors';
import { loadDriver } from '../load-driver';

/** How long opening a connection may take unless the target says otherwise (libpq has no limit). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * The URL parameter that turns sasync's named prepared statements off:
 * `postgres://host/db?prepare=false`, in a target URL or in the `url` of
 * DataSourceOptions. For a pooler that hands one server connection to
 * several clients between transactions (PgBouncer before 1.21 in
 * transaction mode, which does not carry named statements over), or for
 * anyone who wants the server to hold no statement of sasync's: SQL is then
 * parsed and planned by the server each time it is sent, `broker.prepare()`'s
 * statements too (their name stays sasync's, but none goes to the server).
 * `true`, the default, sends SQL a connection repeats as named statements.
 */
export const PREPARE_PARAM = 'prepare';

/**
 * Reads `url`'s `prepare` parameter and takes it out (pg would carry it as a
 * setting of its own): true when absent. Throws what `refuse(reason)` makes for any
 * value but true and false, or for the parameter given twice.
 */
export function takePrepare(url: URL, refuse: (reason: string) => Error): boolean {
  const values = url.searchParams.getAll(PREPARE_PARAM);
  url.searchParams.delete(PREPARE_PARAM);
  const [value] = values;
  if (value === undefined) return true;
  if (values.length === 1 && (value === 'true' || value === 'false')) return value === 'true';
  const given = values.map((v) => JSON.stringify(v)).join(' and ');
  throw refuse(
    `prepare must be true or false, once (false: no named prepared statements, e.g. behind PgBouncer in ` +
      `transaction mode), not ${given}`,
  );
}

/**
 * Marks the options of a DataSource whose connections send no named
 * statement. A symbol-keyed property: TypeORM and pg never read it, and it
 * survives the copies (spread) made of the options on their way to the
 * DataSource, which keeps the object it is given as its `options`.
 */
const NO_PREPARE = Symbol('sasync.prepare=false');

/** `options` marked so that its DataSource's connections send no named statement (`prepare=false`). */
export function withoutPrepared<T extends DataSourceOptions>(options: T): T {
  return { ...options, [NO_PREPARE]: true };
}

/** Whether a DataSource made with these options sends SQL it repeats as named statements (not `prepare=false`). */
export function preparesStatements(options: DataSourceOptions): boolean {
  return (options as { [NO_PREPARE]?: boolean })[NO_PREPARE] !== true;
}

/**
 * The options a postgres DataSource is made with: the caller's, with the defaults below.
 * @throws DatabaseError when pg or pg-cursor is not installed: said when the
 *   broker is made, not at its first transaction or stream; or when the
 *   `url` has a `prepare` parameter other than true or false.
 */
export function postgresOptions(options: DataSourceOptions): DataSourceOptions {
  // Loaded now, although the change bus and row streams use them later: a
  // missing one is an install to fix, better told before any work is queued.
  loadDriver('pg');
  loadDriver('pg-cursor');
  return withSchemaPath(withPoolDefaults(withPrepareParam(options as PostgresConnectionOptions)));
}

/**
 * DataSourceOptions (TypeORM's, with no place for sasync's own settings)
 * take `?prepare=false` in their `url`, as a target URL does: read, checked,
 * and taken out of the URL pg is given (it would carry it as a setting of
 * its own). A target URL's was read by parsePostgresUrl already.
 */
function withPrepareParam(options: PostgresConnectionOptions): PostgresConnectionOptions {
  if (typeof options.url !== 'string') return options;
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    return options; // not ours to judge: pg reports a malformed URL when it connects
  }
  if (!url.searchParams.has(PREPARE_PARAM)) return options;
  const prepare = takePrepare(
    url,
    (reason) =>
      new DatabaseError(`bad database target { type: 'postgres', url } (${reason})`, {
        target: 'postgres (DataSourceOptions)',
      }),
  );
  const rest = { ...options, url: url.toString() };
  return prepare ? rest : withoutPrepared(rest);
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
