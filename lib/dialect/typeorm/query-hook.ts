import type { QueryRunner } from 'typeorm';
import type { DirectQuery } from './direct-query';

/**
 * What runs before a runner's statement: it throws to refuse the statement,
 * or returns the parameters to send (the same array, or a checked copy).
 */
export type BeforeQuery = (sql: unknown, parameters: unknown[] | undefined) => unknown[] | undefined;

const HOOKED = Symbol('sasync.queryHook');
/** The runner's own query(), kept by {@link hookQuery} for {@link unhookQuery}. */
const ORIGINAL = Symbol('sasync.queryOriginal');

/** query() as called with TypeORM's three arguments, whatever its declared overloads. */
type Untyped = (this: QueryRunner, sql: string, parameters?: unknown[], structured?: boolean) => Promise<unknown>;

type Hookable = QueryRunner & { [HOOKED]?: true; [ORIGINAL]?: QueryRunner['query'] };

/**
 * Puts `before` in front of every `runner.query()` call, once per runner;
 * with `direct`, a call that does not ask for TypeORM's structured result
 * goes through it instead of TypeORM's query() where it can.
 * Every TypeORM path to the connection (EntityManager, repositories, query
 * builders, `tx.query`) goes through `QueryRunner.query`, so it is the one
 * place where every statement of a transaction passes.
 *
 * TypeORM internal: QueryRunner has no hook for this, so the method is
 * replaced on the live runner instance. A TypeORM release that stopped
 * routing its calls through `query` would bypass the hook: the bound-values
 * and kept-manager specs would catch it.
 */
export function hookQuery(runner: QueryRunner, before: BeforeQuery, direct?: DirectQuery): void {
  if (isHooked(runner)) return;
  const hookable = runner as Hookable;
  hookable[HOOKED] = true;
  const query = runner.query;
  // An own query() to put back; none when it is the prototype's.
  if (Object.prototype.hasOwnProperty.call(runner, 'query')) hookable[ORIGINAL] = query;
  // Three named arguments (TypeORM's query(sql, parameters, useStructuredResult)): no rest array per statement.
  runner.query = function hookedQuery(this: QueryRunner, sql: string, given?: unknown[], structured?: boolean) {
    let parameters: unknown[] | undefined;
    try {
      parameters = before(sql, given);
    } catch (err) {
      return Promise.reject(err);
    }
    // Straight to the driver where nothing watches TypeORM's statements (see direct-query.ts).
    if (direct && !structured) {
      const sent = direct(sql, parameters);
      if (sent) return sent;
    }
    // (A missing argument and an undefined one are the same to TypeORM's query().)
    return (query as Untyped).call(this, sql, parameters, structured);
  } as QueryRunner['query'];
}

/** Whether {@link hookQuery} already hooked `runner` (sqlite's one runner is reused by every transaction). */
export function isHooked(runner: QueryRunner): boolean {
  return (runner as QueryRunner & { [HOOKED]?: true })[HOOKED] === true;
}

/**
 * Takes {@link hookQuery}'s hook off `runner` again, when sasync leaves a
 * DataSource it did not make whose runner outlives sasync's use (sqlite's one
 * runner): the owner's statements no longer pass sasync's checks.
 */
export function unhookQuery(runner: QueryRunner): void {
  const hookable = runner as Hookable;
  if (!hookable[HOOKED]) return;
  const own = hookable[ORIGINAL];
  delete hookable[HOOKED];
  delete hookable[ORIGINAL];
  if (own) runner.query = own;
  else delete (runner as Partial<QueryRunner>).query;
}
