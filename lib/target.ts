import type { DataSourceOptions } from 'typeorm';
import { DIALECT_LIST, dialectForUrl, redactPassword, TargetSyntaxError, type ParsedTarget } from './dialect';
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
  readonly key: ParsedTarget['key'] | DataSourceOptions;
  /** The target as it may be shown in messages (no password). */
  readonly label: string;
  /** The TypeORM DataSource options sasync opens the target with. */
  readonly options: DataSourceOptions;
}

export const ACCEPTED_TARGETS = `${DIALECT_LIST.map((d) => d.urlForms).join(', ')}, or a TypeORM DataSourceOptions object of type ${DIALECT_LIST.map((d) => `'${d.name}'`).join(' or ')}`;

const SUPPORTED_TYPES = new Set<string>(DIALECT_LIST.map((d) => d.name));

/** Parses a target; throws {@link DatabaseError} naming the accepted forms. */
export function resolveTarget(target: DatabaseTarget): ResolvedTarget {
  if (typeof target === 'object' && target !== null) return fromOptions(target);
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
