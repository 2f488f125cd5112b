import { StatementCache } from '../postgres/statement-cache';
import { TransactionOpening, type Reopen } from '../postgres/transaction-opening';
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

type Preparing = Omit<PgClient, 'query'> & PgQueue & { [ORIGINAL]?: Query; query: Query };

/** What pg's client keeps of the queries it has not answered yet. */
interface PgQueue {
  _activeQuery?: unknown;
  _queryQueue?: unknown[];
  _sentQueryQueue?: unknown[];
  readyForQuery?: boolean;
}

/**
 * Makes `client` send SQL it has seen before on this connection as a named
 * prepared statement (see StatementCache: on the second sight, at most
 * `limit`, least recently used deallocated), which spares the server a
 * parse and plan per statement. Only SQL sent with values is prepared: it
 * already goes through the extended protocol, which takes one statement
 * only, so multi-statement SQL (sent without values, by the simple
 * protocol) is never touched.
 *
 * A stale statement: when the server refuses a cached statement (after a
 * schema change, `0A000` "cached plan must not change result type" from
 * its plan cache, or `26000`, the statement is gone; not any other
 * `0A000`), it is forgotten (and deallocated), and sent again once, unnamed,
 * where that cannot change what the caller sees: the server refused it
 * before running it, so
 * - in autocommit (the connection is idle after the error) it is simply
 *   sent again;
 * - as the first statement of a transaction (after BEGIN and its SET
 *   TRANSACTION only) or of a savepoint, the server has aborted a
 *   transaction (or savepoint) that had done nothing: it is rolled back
 *   (`ROLLBACK` and the same BEGIN again, or `ROLLBACK TO SAVEPOINT`) and
 *   the statement sent again in the clean one;
 * - anywhere else in a transaction, what the transaction did before is
 *   lost with it: the error is the caller's, marked for the transaction's
 *   `retry` ({@link isStalePlan}).
 * Never when anything was sent on the connection after the statement
 * (statements the work sent without awaiting it): that ran behind the
 * error already (in an aborted transaction, or in autocommit before the
 * statement would run again), so the error is the caller's there too; and
 * the `25P02` of those sent behind it in the transaction it aborted is
 * marked as its doing (the work may see that one first), so that `retry`
 * runs the transaction again. The error is thrown on without a wait, so
 * that it reaches the work no later than theirs.
 *
 * `broker.prepare()`'s statements (query configs named by their caller,
 * which pg parses once per connection) go as they are, and are handled
 * alike when stale, except that their name is kept: where the statement
 * is sent again, the stale one is deallocated first and it is parsed again
 * under its name; where the error is the caller's, it is deallocated
 * before a later statement on the connection (once the failed transaction
 * is over and nothing is queued), so that its next run is parsed again
 * rather than failing until the connection is replaced.
 *
 * pg internals: the client's `query` is replaced on the instance (TypeORM
 * calls `client.query(sql, values)`), and `connection.parsedStatements`
 * (and `submittedNamedStatements`), pg's record of the names it has parsed
 * on the connection, loses a name given up once its DEALLOCATE has run (not
 * when it is queued: a statement queued before it still uses the name).
 * Breaks if pg renames them: given-up names stay in that record (memory
 * only; names are never reused). Caught by
 * spec/dialect/postgres-prepared-cache.spec.ts. pg's `readyForQuery`,
 * `_activeQuery` and queues tell whether the client is idle when a BEGIN
 * goes out (a BEGIN sent inside a transaction opens nothing) and whether a
 * statement goes behind another; if pg renamed them, a BEGIN would never
 * count and every statement would seem to go behind another: stale
 * statements in transactions would fail as before this (caught by
 * spec/dialect/postgres-stale-plan.spec.ts).
 */
export function autoPrepare(client: PgClient, limit?: number): void {
  const c = client as Preparing;
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  const cache = new StatementCache(limit);
  /** Calls sent on the client so far: a stale statement is sent again only if nothing went after it. */
  let sent = 0;
  /** Where the connection is: the first statement of a transaction that has done nothing else? */
  const opening = new TransactionOpening();
  /** The last stale statement whose error was the caller's (not sent again). */
  let staleAt: Position | undefined;

  const deallocate = () => {
    // Not in a failed transaction: the server would refuse it (and the names stay queued).
    if (c.getTransactionStatus?.() === 'E') return;
    for (const name of cache.takeStale()) {
      // pg sends a client's queries in order: one queued before this DEALLOCATE still finds the name
      // parsed (on the server and in pg's record); none queued after uses it (names are never reused).
      // So the record loses the name only once the server has dropped it.
      sent++;
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

  /**
   * Names of `broker.prepare()`'s statements (named by the caller) the
   * server holds stale, to DEALLOCATE once nothing is queued on the client
   * (pg's record loses them at the same time: a use sent after it is parsed
   * again; one queued before it would not be).
   */
  const staleNames = new Set<string>();
  const dropStaleNames = () => {
    if (staleNames.size === 0 || c.getTransactionStatus?.() === 'E' || busy(c)) return;
    for (const name of staleNames) {
      forgetParsed(name);
      sent++;
      // (It can only fail with the connection, which takes the statement with it.)
      (query.call(client, `DEALLOCATE ${quoteName(name)}`) as Promise<unknown>).catch(() => undefined);
    }
    staleNames.clear();
  };

  /**
   * Sends a stale statement again after `before` (rolling back a
   * transaction that did nothing, then `dropping` its name, then beginning
   * it again), all queued at once, in order; answered as the statement.
   */
  const sendAgain = (self: PgClient, before: Reopen, dropping: string[], resend: () => unknown): Promise<unknown> => {
    const texts = before.length > 0 ? [before[0]!, ...dropping, ...before.slice(1)] : dropping;
    sent += texts.length + 1;
    if (before.length > 0) opening.reopened();
    // The statement runs only if those before it did (pg fails it otherwise).
    const answers = [...texts.map((text) => query.call(self, text)), resend()];
    return Promise.allSettled(answers as Promise<unknown>[]).then((results) => {
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      return (results[results.length - 1] as PromiseFulfilledResult<unknown>).value;
    });
  };

  /** What is done with a named statement the server refused as stale. */
  interface StaleHandling {
    /** Sent again: the statements to send first (after a ROLLBACK), and what sends it. */
    again(code: unknown): { dropping: string[]; resend: () => unknown };
    /** Not sent again: the error goes to the caller. */
    keep(code: unknown): void;
  }

  /**
   * The answer of a named statement sent as the `at`th call: a stale one is
   * sent again where nothing is lost (see {@link autoPrepare}); any other
   * error is thrown on, at once: statements sent behind it settle after it.
   */
  const answered = (
    answer: Promise<unknown>,
    at: Position,
    first: Reopen | undefined,
    behind: boolean,
    handling: StaleHandling,
  ): Promise<unknown> =>
    answer.catch((err: unknown) => {
      if (!isStaleStatement(err)) {
        if (behind) markIfAborted(err, at);
        throw err;
      }
      const { code } = err as { code?: unknown };
      const last = sent === at.at;
      const again = (status: string | null | undefined) => {
        const before = last && status === 'I' && first === undefined ? [] : last && status === 'E' ? first : undefined;
        if (before) {
          const { dropping, resend } = handling.again(code);
          return sendAgain(client, before, dropping, resend);
        }
        handling.keep(code);
        staleAt = at;
        stale.add(err as object);
        throw err;
      };
      // Nothing sent after it: the next ReadyForQuery is its own, and says where the connection is.
      if (!last) return again(undefined);
      const status = transactionStatus(client);
      return status instanceof Promise ? status.then(again) : again(status);
    });

  c.query = function preparingQuery(this: PgClient, sql: unknown, values?: unknown, callback?: unknown) {
    const text = typeof sql === 'string' && values === undefined && callback === undefined ? sql : undefined;
    const first = opening.follow(text, () => idle(c));
    // Sent behind another statement not answered yet: it may fail only because that one was stale.
    const behind = busy(c);
    dropStaleNames();
    const given = namedConfig(sql, callback);
    if (given !== undefined) {
      // broker.prepare()'s statement, named by the caller: pg parses it once per connection.
      const at: Position = { ends: opening.boundaries, at: ++sent };
      return answered(query.call(this, sql, values) as Promise<unknown>, at, first, behind, {
        // 26000: the server has no such statement; 0A000: it has it, stale, to be deallocated first.
        again: (code) => {
          forgetParsed(given);
          return {
            dropping: code === '0A000' ? [`DEALLOCATE ${quoteName(given)}`] : [],
            resend: () => query.call(this, sql, values),
          };
        },
        keep: (code) => (code === '0A000' ? staleNames.add(given) : forgetParsed(given)),
      });
    }
    if (typeof sql !== 'string' || !Array.isArray(values) || values.length === 0 || callback !== undefined) {
      const at: Position = { ends: opening.boundaries, at: ++sent };
      const answer = query.call(this, sql, values, callback);
      return behind && plain(sql, values, callback) ? markAborted(answer as Promise<unknown>, at) : answer;
    }
    const name = cache.nameFor(sql);
    deallocate();
    const at: Position = { ends: opening.boundaries, at: ++sent };
    if (name === undefined) {
      const answer = query.call(this, sql, values) as Promise<unknown>;
      return behind ? markAborted(answer, at) : answer;
    }
    const forget = (code: unknown) => {
      // 26000: the server has no such statement; 0A000: it has, and it is to be deallocated.
      cache.forget(sql, code === '0A000');
      if (code === '26000') forgetParsed(name);
    };
    return answered(sendNamed(this, query, name, sql, values), at, first, behind, {
      again: (code) => (forget(code), { dropping: [], resend: () => query.call(this, sql, values) }),
      keep: forget,
    });
  } as Query;

  /**
   * A statement sent behind a stale one, in the transaction its error
   * aborted, fails with 25P02: that error is marked stale too (the work may
   * see it first), so that `retry` runs the transaction again.
   */
  const markIfAborted = (err: unknown, sentAt: Position): void => {
    const aborted = staleAt !== undefined && staleAt.ends === sentAt.ends && staleAt.at < sentAt.at;
    if (aborted && (err as { code?: unknown } | null)?.code === '25P02') stale.add(err as object);
  };
  const markAborted = (answer: Promise<unknown>, sentAt: Position): Promise<unknown> =>
    answer.catch((err: unknown) => {
      markIfAborted(err, sentAt);
      throw err;
    });
}

/** pg's Query class, as its Client carries it (`Client.Query`). */
type PgQueryClass = new (
  text: string,
  values: unknown[],
) => {
  name?: string;
  callback?: (err: Error | null, result: unknown) => void;
};

/**
 * Sends `text` with `values` as the named statement `name`, answered by a
 * Promise, as `query.call(client, { name, text, values })` would, at less
 * cost: pg copies a query config given as an object through its property
 * descriptors (`cloneQueryConfig`), and wraps its answer in a Promise and a
 * `catch` of its own; a Query made from the text (no copy) and named after
 * is sent as it is, and its callback settles the one Promise. As pg does,
 * an error's stack is replaced by one that leads here, not to the socket.
 *
 * pg internals: `Client.Query` (pg's Query class, which pg's pipeline mode
 * tells from cursors by `instanceof`) and its `name` and `callback` fields.
 * Without `Client.Query` (not pg's Client), the config goes as before.
 */
function sendNamed(client: PgClient, query: Query, name: string, text: string, values: unknown[]): Promise<unknown> {
  const PgQuery = (client.constructor as { Query?: PgQueryClass }).Query;
  if (typeof PgQuery !== 'function') return query.call(client, { name, text, values }) as Promise<unknown>;
  return new Promise((resolve, reject) => {
    const q = new PgQuery(text, values);
    q.name = name;
    q.callback = (err, result) => {
      if (!err) return resolve(result);
      Error.captureStackTrace(err);
      reject(err);
    };
    query.call(client, q);
  });
}

/** Where a statement was sent: after how many transaction boundaries, as the how-manieth call. */
interface Position {
  readonly ends: number;
  readonly at: number;
}

/** The name of a query config that names its statement (`broker.prepare()`'s), answered by a Promise. */
function namedConfig(sql: unknown, callback: unknown): string | undefined {
  if (callback !== undefined || typeof sql !== 'object' || sql === null) return undefined;
  const { name, submit } = sql as { name?: unknown; submit?: unknown };
  return typeof name === 'string' && name !== '' && typeof submit !== 'function' ? name : undefined;
}

/** A statement name as an SQL identifier (pg sends it as it is, case and all). */
function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Whether pg takes the call as a plain statement, answered by a Promise (not a cursor, no callback). */
function plain(sql: unknown, values: unknown, callback: unknown): boolean {
  if (callback !== undefined || typeof values === 'function') return false;
  if (typeof sql === 'string') return true;
  return typeof sql === 'object' && sql !== null && typeof (sql as { submit?: unknown }).submit !== 'function';
}

/** Whether the client has a statement on the wire or queued: one sent now goes behind it. */
function busy(c: Preparing): boolean {
  return (
    c.readyForQuery !== true ||
    Boolean(c._activeQuery) ||
    (c._queryQueue?.length ?? 0) > 0 ||
    (c._sentQueryQueue?.length ?? 0) > 0
  );
}

/** Whether the client is outside a transaction with nothing on the wire or queued: a BEGIN sent now opens one. */
function idle(c: Preparing): boolean {
  return c.getTransactionStatus?.() === 'I' && !busy(c);
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
 * server refused after a schema change, inside a transaction where it
 * could not be sent again by itself (see {@link autoPrepare}), or a
 * statement sent behind it that the abort failed: the transaction failed,
 * and re-running it sends the statement afresh.
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
