import path from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import { DatabaseError } from './errors';

/**
 * Where a broker's database is: a URL string or TypeORM `DataSourceOptions`.
 *
 * ```ts
 * 'sqlite::memory:'                       // in memory, one per process
 * 'sqlite:data/stats.db'                  // a file, relative to the working directory
 * 'sqlite:///var/lib/stats.db'            // a file, absolute
 * 'postgres://user:pass@host:5432/db?max=10'
 * ```
 */
export type DatabaseTarget = string | DataSourceOptions;

/** A target resolved into what the registry needs. */
export interface ResolvedTarget {
  /** Brokers whose targets share a key share one DataSource. */
  readonly key: string | DataSourceOptions;
  /** The target as it may be shown in messages (no password). */
  readonly label: string;
  readonly options: DataSourceOptions;
}

export const ACCEPTED_TARGETS =
  "'sqlite::memory:', 'sqlite:relative/path.db', 'sqlite:///absolute/path.db', " +
  "'postgres://user:pass@host:5432/db?max=10' (or postgresql://), " +
  "or a TypeORM DataSourceOptions object of type 'sqlite' or 'postgres'";

const SUPPORTED_TYPES = new Set(['sqlite', 'postgres']);

/** Parses a target; throws {@link DatabaseError} naming the accepted forms. */
export function resolveTarget(target: DatabaseTarget): ResolvedTarget {
  if (typeof target === 'object' && target !== null) return fromOptions(target);
  if (typeof target !== 'string') throw bad(String(target), 'it is neither a string nor an object');
  if (target.startsWith('sqlite:')) return fromSqlite(target);
  if (/^postgres(ql)?:\/\//.test(target)) return fromPostgres(target);
  throw bad(target, 'unknown scheme');
}

function fromOptions(options: DataSourceOptions): ResolvedTarget {
  if (!SUPPORTED_TYPES.has(options.type)) {
    throw bad(`{ type: '${String(options.type)}' }`, 'unsupported database type');
  }
  return { key: options, label: `${options.type} (DataSourceOptions)`, options };
}

function fromSqlite(target: string): ResolvedTarget {
  const rest = target.slice('sqlite:'.length);
  if (rest === ':memory:') {
    return { key: 'sqlite::memory:', label: target, options: { type: 'sqlite', database: ':memory:' } };
  }
  let file: string;
  if (rest.startsWith('///')) file = rest.slice(2);
  else if (rest.startsWith('//')) throw bad(target, "a host is not allowed: use 'sqlite:///absolute/path.db'");
  else file = rest;
  if (file === '' || file.endsWith('/')) throw bad(target, 'no file name');
  if (file.includes('\0')) throw bad(target, 'the path contains a NUL byte');
  const database = path.resolve(file);
  return {
    key: `sqlite:${database}`,
    label: `sqlite:${database}`,
    // WAL lets a reader (a row stream's own connection) run while a writer commits.
    options: { type: 'sqlite', database, enableWAL: true, busyTimeout: 5000 },
  };
}

function fromPostgres(target: string): ResolvedTarget {
  let url: URL;
  try {
    url = new URL(target);
  } catch (cause) {
    throw bad(redactPassword(target), 'malformed URL', cause);
  }
  if (url.hostname === '') throw bad(redactPassword(target), 'no host');
  if (url.pathname.length <= 1) throw bad(redactPassword(target), 'no database name');
  const maxParam = url.searchParams.get('max');
  let poolSize: number | undefined;
  if (maxParam !== null) {
    poolSize = Number(maxParam);
    if (!Number.isInteger(poolSize) || poolSize < 2) {
      throw bad(redactPassword(target), `max must be an integer of at least 2, not ${maxParam}`);
    }
    url.searchParams.delete('max');
  }
  const shown = new URL(url.toString());
  if (poolSize) shown.searchParams.set('max', String(poolSize));
  const label = redactPassword(shown.toString());
  const options: DataSourceOptions = { type: 'postgres', url: url.toString(), ...(poolSize ? { poolSize } : {}) };
  // postgresql:// and postgres:// name the same database: one DataSource for both.
  const key = `${url.toString().replace(/^postgresql:/, 'postgres:')}#max=${poolSize ?? ''}`;
  return { key, label, options };
}

/** The target with its password replaced by ***, whether or not it parses as a URL. */
function redactPassword(target: string): string {
  try {
    const url = new URL(target);
    if (url.password !== '') url.password = '***';
    return url.toString();
  } catch {
    // Up to the LAST @ before the path: a password may itself contain @.
    return target.replace(/(\/\/[^:/@]*:)[^/]*@/, '$1***@');
  }
}

function bad(target: string, reason: string, cause?: unknown): DatabaseError {
  return new DatabaseError(
    `bad database target ${JSON.stringify(target)} (${reason}); accepted forms: ${ACCEPTED_TARGETS}`,
    {
      cause,
      target,
    },
  );
}
