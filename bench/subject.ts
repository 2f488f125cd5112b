import type { RunOne } from './timing';
import type { DbKind, SqliteSync, Workload } from './workload';

/** The implementations compared, in the order the tables show them. */
export const SUBJECTS = ['sasync', 'typeorm', 'raw'] as const;

/**
 * With `--peers` (postgres only): sasync with its last statement sent with
 * COMMIT (commitWith()), pg 8.23's pipeline mode, and the query builders
 * and driver people choose instead of TypeORM (bench/peers/).
 */
export const PEERS = ['commitWith', 'pipelined', 'kysely', 'knex', 'postgresjs'] as const;

/**
 * On sqlite, beside the others: node-sqlite3 with the SQL prepared once and
 * the Statements kept (what sasync's connections do by themselves), so that
 * the tables show how much of sasync's lead over the raw driver is that.
 */
export const SQLITE_EXTRAS = ['rawPrepared'] as const;

export type SubjectName = (typeof SUBJECTS)[number] | (typeof PEERS)[number] | (typeof SQLITE_EXTRAS)[number];

/** How the tables name each subject. */
export const SUBJECT_LABELS: Record<SubjectName, string> = {
  sasync: 'sasync',
  commitWith: 'sasync commitWith',
  typeorm: 'TypeORM',
  raw: 'raw pg',
  rawPrepared: 'raw node-sqlite3, prepared',
  pipelined: 'pg pipelined',
  kysely: 'Kysely',
  knex: 'Knex',
  postgresjs: 'postgres.js',
};

/** One implementation of the workload, open on its own fresh table. */
export interface Subject {
  readonly name: SubjectName;
  /** Runs the insert-then-select transaction for `i`. */
  readonly run: RunOne;
  /** Drops its table and closes its connections. */
  close(): Promise<void>;
}

/** Which subject to open where (plain data: it is sent to the subject's own process). */
export interface SubjectSpec {
  readonly name: SubjectName;
  readonly kind: DbKind;
  /** sasync's target; the baselines use the DataSourceOptions sasync resolves it to. */
  readonly target: string;
  readonly table: string;
  /** sqlite's `synchronous` for this run (FULL when not given). */
  readonly synchronous?: SqliteSync;
}

/** Opens a subject on `target`, running `workload` on a fresh `table`. */
export type OpenSubject = (where: { target: string; workload: Workload; table: string }) => Promise<Subject>;

/** A subject's `close()`: drops its table, then closes its connections even if the drop failed. */
export function dropThenClose(
  drop: () => Promise<unknown>,
  closeConnections: () => Promise<unknown>,
): () => Promise<void> {
  return async () => {
    try {
      await drop();
    } finally {
      await closeConnections();
    }
  };
}
