import type { DataSource, DataSourceOptions } from 'typeorm';
import { DIALECT_LIST, dialectForUrl, redactPassword, TargetSyntaxError, type ParsedTarget } from './dialect';
import { DatabaseError } from './errors';

/**
 * Where a broker's database is: a URL string, TypeORM `DataSourceOptions`
 * (sasync makes the DataSource, tunes it, and destroys it with the last
 * broker), or an existing TypeORM `DataSource` of the app's own.
 *
 * ```ts
 * 'sqlite::memory:'                       // in memory, one per process
 * 'sqlite:data/stats.db'                  // a file, relative to the working directory
 * 'sqlite:///var/lib/stats.db'            // a file, absolute
 * 'postgres://user:pass@host:5432/db?max=10'
 * dataSource                              // the app's DataSource, used as it is
 * ```
 *
 * A DataSource is used as it is, never copied: initialized by sasync if it
 * is not yet (once, shared by every broker and store on it), and never
 * destroyed by sasync, which takes back what it added to it when the last
 * broker on it shuts down; its owner destroys it, after that. Every broker
 * and store on one DataSource object shares one queue; a URL or options
 * target naming the same database is a different one (another DataSource,
 * another queue: sqlite transactions of the two are then not serialized
 * with each other, and wait on sqlite's locks).
 */
export type DatabaseTarget = string | DataSourceOptions | DataSource;

/** A target resolved into what the registry needs. */
export interface ResolvedTarget {
  /** Brokers whose targets share a key share one DataSource: a URL's canonical form, the options object, or the DataSource. */
  readonly key: ParsedTarget['key'] | DataSourceOptions | DataSource;
  /** The target as it may be shown in messages (no password). */
  readonly label: string;
  /** The TypeORM DataSource options sasync opens the target with. */
  readonly options: DataSourceOptions;
  /** The app's own DataSource, when the target was one: used as it is, never destroyed by sasync. */
  readonly dataSource?: DataSource;
}

const TYPES = DIALECT_LIST.map((d) => `'${d.name}'`).join(' or ');

export const ACCEPTED_TARGETS = `${DIALECT_LIST.map((d) => d.urlForms).join(', ')}, or a TypeORM DataSource or DataSourceOptions object of type ${TYPES}`;

const SUPPORTED_TYPES = new Set<string>(DIALECT_LIST.map((d) => d.name));

/** The members sasync calls on a DataSource: looked for by shape, since an app may load two copies of TypeORM. */
const DATA_SOURCE_MEMBERS = ['initialize', 'destroy', 'createQueryRunner'] as const;

/**
 * Parses a target; throws {@link DatabaseError} naming the accepted forms,
 * or, for a DataSource of a type sasync does not support, the supported types.
 */
export function resolveTarget(target: DatabaseTarget): ResolvedTarget {
  if (typeof target === 'object' && target !== null) {
    return looksLikeDataSource(target) ? fromDataSource(target) : fromOptions(target as DataSourceOptions);
  }
  if (typeof target !== 'string') throw bad(String(target), 'it is neither a string nor an object');
  const dialect = dialectForUrl(target);
  if (!dialect) throw bad(redactPassword(target), 'unknown scheme');
  try {
    return dialect.parseUrl(target);
  } catch (err) {
    if (err instanceof TargetSyntaxError) throw bad(err.target, err.reason, err.cause);
    throw err;
  }
}

/**
 * Whether `target` is meant as a DataSource: it has any of a DataSource's
 * own members (options are plain data). Not `instanceof`: the app's TypeORM
 * may be another copy than the one sasync resolves.
 */
function looksLikeDataSource(target: object): boolean {
  return 'isInitialized' in target || DATA_SOURCE_MEMBERS.some((m) => m in target);
}

function fromDataSource(target: object): ResolvedTarget {
  const ds = target as Partial<DataSource>;
  const type: unknown = ds.options?.type;
  const missing: string[] = DATA_SOURCE_MEMBERS.filter((m) => typeof ds[m] !== 'function');
  if (typeof ds.isInitialized !== 'boolean') missing.push('isInitialized');
  if (typeof type !== 'string') missing.push('options.type');
  if (missing.length > 0) {
    const lacks = missing.join(', ');
    throw new DatabaseError(
      `this object is not a TypeORM DataSource (it has no ${lacks}): pass a DataSource made with new DataSource(...), ` +
        `or one of the accepted targets: ${ACCEPTED_TARGETS}`,
    );
  }
  const dataSource = target as DataSource;
  if (typeof type !== 'string' || !SUPPORTED_TYPES.has(type)) {
    throw new DatabaseError(
      `a TypeORM DataSource of type '${type}' is not supported: sasync works with DataSources of type ${TYPES} ` +
        "(sqlite through the 'sqlite3' package: type 'sqlite', not 'better-sqlite3'); make one of those for sasync",
      { target: `${type} DataSource` },
    );
  }
  return { key: dataSource, label: dataSourceLabel(dataSource), options: dataSource.options, dataSource };
}

/** `sqlite DataSource (/var/db.sqlite)`, `postgres DataSource (postgres://u:***@h/db)`: no password. */
function dataSourceLabel(ds: DataSource): string {
  const o = ds.options as { type: string; url?: string; host?: string; database?: unknown };
  const where = o.url ? redactPassword(o.url) : [o.host, o.database].filter((p) => typeof p === 'string').join('/');
  return `${o.type} DataSource${where ? ` (${where})` : ''}`;
}

function fromOptions(options: DataSourceOptions): ResolvedTarget {
  if (!SUPPORTED_TYPES.has(options.type)) {
    throw bad(`{ type: '${String(options.type)}' }`, 'unsupported database type');
  }
  return { key: options, label: `${options.type} (DataSourceOptions)`, options };
}

function bad(target: string, reason: string, cause?: unknown): DatabaseError {
  return new DatabaseError(
    `bad database target ${JSON.stringify(target)} (${reason}); accepted forms: ${ACCEPTED_TARGETS}`,
    { cause, target },
  );
}
