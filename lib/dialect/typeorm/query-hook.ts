import type { QueryRunner } from 'typeorm';

/**
 * What runs before a runner's statement: it throws to refuse the statement,
 * or returns the parameters to send (the same array, or a checked copy).
 */
export type BeforeQuery = (sql: unknown, parameters: unknown[] | undefined) => unknown[] | undefined;

const HOOKED = Symbol('sasync.queryHook');

/**
 * Puts `before` in front of every `runner.query()` call, once per runner.
 * Every TypeORM path to the connection (EntityManager, repositories, query
 * builders, `tx.query`) goes through `QueryRunner.query`, so it is the one
 * place where every statement of a transaction passes.
 *
 * TypeORM internal: QueryRunner has no hook for this, so the method is
 * replaced on the live runner instance. A TypeORM release that stopped
 * routing its calls through `query` would bypass the hook: the bound-values
 * and kept-manager specs would catch it.
 */
export function hookQuery(runner: QueryRunner, before: BeforeQuery): void {
  if (isHooked(runner)) return;
  (runner as QueryRunner & { [HOOKED]?: true })[HOOKED] = true;
  const query = runner.query;
  runner.query = function hookedQuery(this: QueryRunner, ...args: Parameters<QueryRunner['query']>) {
    try {
      const parameters = before(args[0], args[1]);
      if (args[1] !== undefined || parameters !== undefined) args[1] = parameters;
    } catch (err) {
      return Promise.reject(err);
    }
    return query.apply(this, args);
  } as QueryRunner['query'];
}

/** Whether {@link hookQuery} already hooked `runner` (sqlite's one runner is reused by every transaction). */
export function isHooked(runner: QueryRunner): boolean {
  return (runner as QueryRunner & { [HOOKED]?: true })[HOOKED] === true;
}
