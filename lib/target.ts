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
export type DatabaseTarget = string | DataSourceOptions | DataSource | ReplicatedTarget;

/**
 * A postgres primary that takes writes and streaming replicas that take
 * reads: `query()` and `stream()` of reads and `transact(work, { readOnly:
 * true })` go to a replica that has replayed the writes committed through
 * this process before the read began (else, after `maxReplicaWait`, to the
 * primary); everything else goes to the primary. Each member is a URL or
 * DataSourceOptions; a replica that is not in recovery (a primary) is
 * refused at start-up. TypeORM's own `replication: { master, slaves }`
 * options are read as this too.
 *
 * ```ts
 * new AccessBroker({ primary: 'postgres://db1/app', replicas: ['postgres://db2/app'] });
 * ```
 */
export interface ReplicatedTarget {
  /** Where writes, transactions and the stores' LISTEN go. */
  readonly primary: string | DataSourceOptions;
  /** Streaming replicas of it (hot standbys); an empty list sends everything to the primary. */
  readonly replicas: readonly (string | DataSourceOptions)[];
  /**
   * Milliseconds a read may wait for a replica to replay the writes it must
   * see before it reads on the primary instead; default 100.
   */
  readonly maxReplicaWait?: number;
  /**
   * Milliseconds a replica may stay behind a commit it must replay before it
   * leaves the rotation (it is checked again later); default 5000.
   */
  readonly maxReplicaLag?: number;
}

/** How a replicated target's reads wait for its replicas (see {@link ReplicatedTarget}). */
export interface ReplicaSettings {
  /** See {@link ReplicatedTarget.maxReplicaWait}. */
  readonly maxReplicaWait: number;
  /** See {@link ReplicatedTarget.maxReplicaLag}. */
  readonly maxReplicaLag: number;
}

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
  /** A replicated target's replicas (this target is then its primary). */
  readonly replicas?: readonly ResolvedTarget[];
  /** A replicated target's waiting bounds. */
  readonly replication?: ReplicaSettings;
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
    if (looksLikeDataSource(target)) return fromDataSource(target);
    if (isReplicated(target)) return fromReplicated(target as Partial<ReplicatedTarget>);
    return fromOptions(target as DataSourceOptions);
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
  const replication = (options as { replication?: TypeormReplication }).replication;
  if (replication) return fromTypeormReplication(options, replication);
  return { key: options, label: `${options.type} (DataSourceOptions)`, options };
}

/** TypeORM's `replication` option (postgres): credentials of a master and of its slaves. */
interface TypeormReplication {
  readonly master?: Record<string, unknown>;
  readonly slaves?: readonly Record<string, unknown>[];
}

/** The connection fields of TypeORM's credentials, which a member's own replace. */
const CREDENTIALS = ['url', 'host', 'port', 'username', 'password', 'database', 'ssl', 'applicationName'];

/** Replicated targets made from one options object, so that the same object gives the same DataSources. */
const mapped = new WeakMap<object, ResolvedTarget>();

/** TypeORM's `replication` read as `{ primary: master, replicas: slaves }`, each with the other options. */
function fromTypeormReplication(options: DataSourceOptions, replication: TypeormReplication): ResolvedTarget {
  const known = mapped.get(options);
  if (known) return known;
  const base: Record<string, unknown> = { ...options };
  delete base.replication;
  for (const field of CREDENTIALS) delete base[field];
  const member = (credentials: Record<string, unknown> | undefined) =>
    ({ ...base, ...credentials }) as unknown as DataSourceOptions;
  if (typeof replication !== 'object' || replication.master === undefined || !Array.isArray(replication.slaves)) {
    throw new DatabaseError(
      "bad replication options: TypeORM's replication needs { master: credentials, slaves: [credentials, …] }; " +
        "or pass sasync's { primary, replicas } target",
    );
  }
  const resolved = fromReplicated({ primary: member(replication.master), replicas: replication.slaves.map(member) });
  const keyed = { ...resolved, key: options };
  mapped.set(options, keyed);
  return keyed;
}

/** Whether `target` is meant as `{ primary, replicas }` (DataSourceOptions always have a `type`). */
function isReplicated(target: object): boolean {
  return !('type' in target) && ('primary' in target || 'replicas' in target);
}

const DEFAULT_REPLICA_WAIT = 100;
const DEFAULT_REPLICA_LAG = 5000;

/**
 * `{ primary, replicas }`: each member resolved as a target of its own (a
 * URL or options, not a DataSource), all postgres, no replica twice or the
 * primary's. The key is the primary's: brokers on the primary alone share
 * its DataSource.
 */
function fromReplicated(target: Partial<ReplicatedTarget>): ResolvedTarget {
  const refuse = (reason: string) =>
    new DatabaseError(
      `bad replicated target: ${reason}. Pass { primary: 'postgres://…', replicas: ['postgres://…', …] } ` +
        '(URLs or DataSourceOptions of type postgres; maxReplicaWait and maxReplicaLag in milliseconds)',
    );
  const { primary, replicas } = target;
  if (primary === undefined || primary === null) throw refuse('it has no primary');
  if (!Array.isArray(replicas)) throw refuse(`replicas must be an array, not ${describe(replicas)}`);
  const member = (value: unknown, what: string): ResolvedTarget => {
    if (typeof value !== 'string' && (typeof value !== 'object' || value === null)) {
      throw refuse(`${what} must be a URL or DataSourceOptions, not ${describe(value)}`);
    }
    if (typeof value === 'object' && (looksLikeDataSource(value) || isReplicated(value))) {
      throw refuse(`${what} must be a URL or DataSourceOptions (not a DataSource or another replicated target)`);
    }
    const resolved = resolveTarget(value as string | DataSourceOptions);
    if (resolved.options.type !== 'postgres') {
      throw refuse(`${what} is ${resolved.label}: replicas are postgres streaming replicas`);
    }
    return resolved;
  };
  const first = member(primary, 'the primary');
  const keys = new Set<unknown>([first.key]);
  const members = replicas.map((r: unknown, i) => {
    const resolved = member(r, `replica ${i}`);
    if (keys.has(resolved.key)) {
      throw refuse(
        `replica ${i} (${resolved.label}) is ${resolved.key === first.key ? 'the primary' : 'listed twice'}`,
      );
    }
    keys.add(resolved.key);
    return resolved;
  });
  const bound = (name: 'maxReplicaWait' | 'maxReplicaLag', fallback: number): number => {
    const value = target[name];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 600_000) {
      throw new RangeError(`${name} must be a number of milliseconds from 0 to 600000, not ${describe(value)}`);
    }
    return value;
  };
  const replication = {
    maxReplicaWait: bound('maxReplicaWait', DEFAULT_REPLICA_WAIT),
    maxReplicaLag: bound('maxReplicaLag', DEFAULT_REPLICA_LAG),
  };
  return { ...first, replicas: members, replication };
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? 'an array' : String(value);
}

function bad(target: string, reason: string, cause?: unknown): DatabaseError {
  return new DatabaseError(
    `bad database target ${JSON.stringify(target)} (${reason}); accepted forms: ${ACCEPTED_TARGETS}`,
    { cause, target },
  );
}
