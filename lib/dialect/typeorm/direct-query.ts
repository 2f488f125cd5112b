import type sqlite3 from 'sqlite3';
import { QueryFailedError, type DataSource, type QueryRunner } from 'typeorm';
import type { PgClient } from './pg-client';
import { sendSqlite } from '../sqlite/keeping-driver';
import { sqliteConnection } from './sqlite-driver';
import { anySubscriber } from './subscribers';

/**
 * A runner's statement sent straight to its driver connection, with the
 * same result TypeORM's `query()` gives, or undefined when this call must go
 * through TypeORM (see {@link directQuery}).
 */
export type DirectQuery = (sql: string, parameters: unknown[] | undefined) => Promise<unknown> | undefined;

/** The logger (and its logQuery) last seen on each DataSource, and whether it may log statements. */
const loggers = new WeakMap<
  DataSource,
  { readonly logger: unknown; readonly logQuery: unknown; readonly logs: boolean }
>();

/** Whether a subscriber of a DataSource hears of its statements. */
const statementsHeard = anySubscriber((s) => typeof s.beforeQuery === 'function' || typeof s.afterQuery === 'function');

/**
 * Whether TypeORM's per-statement work matters on `ds`: a logger that may
 * log statements (`logging` on, a Logger object, which TypeORM calls
 * whatever `logging` says, or a logger, or its logQuery, set on the
 * DataSource since the first statement: for good), slow-statement logging
 * (`maxQueryExecutionTime`), sqlite's `busyErrorRetry`, or a subscriber
 * with `beforeQuery` or `afterQuery` (one added since included). Asked per
 * statement: two lookups, the answers kept until the DataSource's logger or
 * its number of subscribers changes.
 */
function isWatched(ds: DataSource): boolean {
  return loggerLogs(ds) || statementsHeard(ds);
}

function loggerLogs(ds: DataSource): boolean {
  const { logger } = ds;
  const known = loggers.get(ds);
  if (known?.logger === logger && known.logQuery === logger.logQuery) return known.logs;
  const options = ds.options as DataSource['options'] & { busyErrorRetry?: number };
  // Replaced since it was first seen: watched for good.
  const logs =
    known !== undefined ||
    Boolean(options.logging) ||
    (options.logger !== undefined && typeof options.logger !== 'string') ||
    Boolean(options.maxQueryExecutionTime) ||
    Boolean(options.busyErrorRetry);
  loggers.set(ds, { logger, logQuery: logger.logQuery, logs });
  return logs;
}

/**
 * What TypeORM's `query()` does around each statement (0.3.12 to 0.3.31:
 * await its connection, log, broadcast BeforeQuery and AfterQuery, time it,
 * build a QueryResult, wait for the broadcast) costs about ten Promises a
 * statement, on a DataSource where nothing logs or subscribes. This sends
 * the statement to the runner's driver connection itself and gives the same
 * result: postgres, the rows (`[rows, rowCount]` for UPDATE and DELETE);
 * sqlite, the rows, or the last inserted id for an INSERT; a failure as
 * TypeORM's QueryFailedError around the driver's error. A call goes through
 * TypeORM's own query() (the function returns undefined) when anything
 * watches the DataSource's statements, and when the runner is released (the
 * error is TypeORM's); a postgres runner not connected yet connects first
 * with TypeORM's own connect(), as its query() does.
 *
 * TypeORM internals: the postgres runner's `databaseConnection` (sqlite's
 * driver's, see sqliteConnection) and the result shapes
 * of PostgresQueryRunner.query and SqliteQueryRunner.query (the same from
 * 0.3.12 to 0.3.31). Breaks if TypeORM changes them: tx.query's results
 * would differ from TypeORM's (spec/dialect/direct-query.spec.ts compares them).
 */
export function directQuery(runner: QueryRunner, dialect: 'sqlite' | 'postgres'): DirectQuery {
  const ds = runner.connection;
  if (dialect === 'postgres') {
    const send = (client: PgClient, sql: string, parameters: unknown[] | undefined) =>
      (client.query(sql, parameters) as Promise<PgResult | undefined>).then(pgRaw, (err: unknown) => {
        throw new QueryFailedError(sql, parameters, err as Error);
      });
    return (sql, parameters) => {
      if (runner.isReleased || isWatched(ds)) return undefined;
      const client = (runner as unknown as { databaseConnection?: PgClient }).databaseConnection;
      if (client) return send(client, sql, parameters);
      // Not connected yet (a transaction's BEGIN): TypeORM's connect(), as its query() would.
      return (runner.connect() as Promise<PgClient>).then((connected) => send(connected, sql, parameters));
    };
  }
  return (sql, parameters) => {
    // TypeORM's sqlite runners share the driver's one connection.
    const db = runner.isReleased || !ds.isInitialized || isWatched(ds) ? undefined : sqliteConnection(ds);
    if (!db) return undefined;
    return new Promise((resolve, reject) => {
      const insert = sql.startsWith('INSERT ');
      const handler = function (this: sqlite3.RunResult, err: Error | null, rows?: unknown[]) {
        if (err) reject(new QueryFailedError(sql, parameters, err));
        else resolve(insert ? this.lastID : rows);
      };
      // Kept prepared where it repeats, on sasync's own connections (see keeping-driver.ts).
      sendSqlite(
        db,
        sql,
        parameters,
        insert || sql.startsWith('DELETE ') || sql.startsWith('UPDATE ') ? 'run' : 'all',
        handler,
      );
    });
  };
}

/** What pg resolves a statement with (an array of these for SQL of several statements). */
interface PgResult {
  command?: string;
  rows?: unknown[];
  rowCount?: number | null;
}

/** PostgresQueryRunner.query's raw result of a pg result. */
function pgRaw(raw: PgResult | undefined): unknown {
  if (!raw) return raw;
  return raw.command === 'DELETE' || raw.command === 'UPDATE' ? [raw.rows, raw.rowCount] : raw.rows;
}
