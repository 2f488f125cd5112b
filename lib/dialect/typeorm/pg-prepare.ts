import { StatementCache } from '../postgres/statement-cache';
import { transactionStatus, type PgClient } from './pg-client';

/** The pg client's query method as TypeORM calls it: SQL and values, a Promise back. */
type Query = (this: PgClient, sql: unknown, values?: unknown, callback?: unknown) => unknown;

/** What pg's protocol connection records of the named statements it has parsed. */
interface ParsedStatements {
  parsedStatements?: Record<string, string>;
  /** Names whose Parse is on the wire, not answered yet (pg 8.23's pipeline mode). */
  submittedNamedStatements?: Record<string, string>;
}

/**
 * Whether the server refused a named statement as stale: `26000`
 * (invalid_sql_statement_name: it has no such statement), or `0A000` raised
 * by its plan cache ("cached plan must not change result type", routine
 * RevalidateCachedQuery). Any other `0A000` (feature_not_supported, which
 * a function may raise too) is the statement's own error: not sent again.
 */
function isStaleStatement(err: unknown): boolean {
  const { code, routine, message } = (err ?? {}) as { code?: unknown; routine?: unknown; message?: unknown };
  if (code === '26000') return true;
  return (
    code === '0A000' && (routine === 'RevalidateCachedQuery' || message === 'cached plan must not change result type')
  );
}

/** Errors of named statements the server refused as stale (see {@link isStalePlan}). */
const stale = new WeakSet<object>();
/** On a client {@link autoPrepare} or {@link sendUnnamed} changed: its own query method, to put back. */
const ORIGINAL = Symbol('sasync.autoPrepare');

type Preparing = Omit<PgClient, 'query'> & { [ORIGINAL]?: Query; query: Query };

/**
 * Makes `client` send SQL it has seen before on this connection as a named
 * prepared statement (see StatementCache: on the second sight, at most
 * `limit`, least recently used deallocated), which spares the server a
 * parse and plan per statement. Only SQL sent with values is prepared: it
 * already goes through the extended protocol, which takes one statement
 * only, so multi-statement SQL (sent without values, by the simple
 * protocol) is never touched. When the server refuses a cached statement
 * (a schema change: `0A000` "cached plan must not change result type", or
 * `26000`, the statement is gone; not any other `0A000`), it is forgotten; outside a transaction
 * the statement is sent again at once; inside one the server has aborted
 * the transaction, so the error is marked for the transaction's retry
 * ({@link isStalePlan}).
 *
 * pg internals: the client's `query` is replaced on the instance (TypeORM
 * calls `client.query(sql, values)`), and `connection.parsedStatements`
 * (and `submittedNamedStatements`), pg's record of the names it has parsed
 * on the connection, loses a name given up once its DEALLOCATE has run (not
 * when it is queued: a statement queued before it still uses the name).
 * Breaks if pg renames them: given-up names stay in that record (memory
 * only; names are never reused). Caught by
 * spec/dialect/postgres-prepared-cache.spec.ts.
 */
export function autoPrepare(client: PgClient, limit?: number): void {
  const c = client as Omit<PgClient, 'query'> & { [ORIGINAL]?: Query; query: Query };
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  const cache = new StatementCache(limit);

  const deallocate = () => {
    // Not in a failed transaction: the server would refuse it (and the names stay queued).
    if (c.getTransactionStatus?.() === 'E') return;
    for (const name of cache.takeStale()) {
      // pg sends a client's queries in order: one queued before this DEALLOCATE still finds the name
      // parsed (on the server and in pg's record); none queued after uses it (names are never reused).
      // So the record loses the name only once the server has dropped it.
      (query.call(client, `DEALLOCATE ${name}`) as Promise<unknown>).then(
        () => forgetParsed(name),
        (err: unknown) => {
          if ((err as { code?: unknown } | null)?.code === '26000') forgetParsed(name);
          else cache.retry(name); // e.g. queued behind a statement that aborted the transaction
        },
      );
    }
  };
  const forgetParsed = (name: string) => {
    const connection = c.connection as ParsedStatements | undefined;
    delete connection?.parsedStatements?.[name];
    delete connection?.submittedNamedStatements?.[name];
  };

  c.query = function preparingQuery(this: PgClient, sql: unknown, values?: unknown, callback?: unknown) {
    if (typeof sql !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined)
      return query.call(this, sql, values, callback);
    const name = cache.nameFor(sql);
    deallocate();
    if (name === undefined) return query.call(this, sql, values);
    return (query.call(this, { name, text: sql, values }) as Promise<unknown>).catch(async (err: unknown) => {
      const code = (err as { code?: unknown } | null)?.code;
      if (!isStaleStatement(err)) throw err;
      // 26000: the server has no such statement; 0A000: it has, and it is to be deallocated.
      cache.forget(sql, code === '0A000');
      if (code === '26000') forgetParsed(name);
      if ((await transactionStatus(client)) === 'I') return query.call(this, sql, values);
      if (typeof err === 'object' && err !== null) stale.add(err);
      throw err;
    });
  } as Query;
}

/**
 * Makes `client` send no named statement (the target's `prepare=false`):
 * a query config with a `name` (`broker.prepare()`'s) goes without it,
 * parsed and planned by the server each time, as any other SQL; nothing
 * else changes. For a pooler that does not keep named statements, and
 * anyone who wants none on the server.
 */
export function sendUnnamed(client: PgClient): void {
  const c = client as Preparing;
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  c.query = function unnamedQuery(this: PgClient, sql: unknown, values?: unknown, callback?: unknown) {
    if (
      typeof sql === 'object' &&
      sql !== null &&
      'name' in sql &&
      typeof (sql as { submit?: unknown }).submit !== 'function'
    ) {
      const { name: _name, ...unnamed } = sql as { name?: unknown };
      return query.call(this, unnamed, values, callback);
    }
    return query.call(this, sql, values, callback);
  } as Query;
}

/**
 * Puts back the client's own query method (undoes {@link autoPrepare} or
 * {@link sendUnnamed}): SQL sent from now on is not prepared (statements
 * already prepared stay on the connection until it closes).
 */
export function stopPreparing(client: PgClient): void {
  const c = client as Preparing;
  const query = c[ORIGINAL];
  if (!query) return;
  c.query = query;
  delete c[ORIGINAL];
}

/**
 * Whether `error` (or the driver error inside it) is a cached statement the
 * server refused after a schema change, inside a transaction: the
 * transaction failed, and re-running it sends the statement afresh.
 */
export function isStalePlan(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 8; depth++) {
    if (stale.has(e)) return true;
    const { driverError, cause } = e as { driverError?: unknown; cause?: unknown };
    if (typeof driverError === 'object' && driverError !== null && stale.has(driverError)) return true;
    e = cause;
  }
  return false;
}
