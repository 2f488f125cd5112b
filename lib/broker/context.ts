import { AsyncLocalStorage } from 'node:async_hooks';
import type { EntityManager, QueryRunner } from 'typeorm';
import { TransactionError } from '../errors';
import type { Dialect } from '../dialect';
import type { SharedDatabase } from './registry';

/**
 * A transaction (or a savepoint inside one) that is running. Work started
 * inside it finds it through AsyncLocalStorage, which is how a transaction
 * method called from another joins the outer transaction.
 */
export class TransactionContext {
  #open = true;
  #savepoints: Promise<unknown> = Promise.resolve();

  constructor(
    readonly db: SharedDatabase,
    readonly runner: QueryRunner,
    readonly parent: TransactionContext | undefined,
  ) {}

  get manager(): EntityManager {
    return this.runner.manager;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Refuses any further query from work that ran in this context. */
  close(): void {
    this.#open = false;
  }

  /** Runs `fn` with this context current. */
  run<T>(fn: () => T): T {
    return storage.run(this, fn);
  }

  /**
   * Runs `fn` after the savepoints queued before it: two savepoints on one
   * connection must not interleave, or one would roll back the other.
   */
  serializeSavepoint<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#savepoints.then(fn, fn);
    this.#savepoints = next.catch(() => undefined);
    return next;
  }
}

const storage = new AsyncLocalStorage<TransactionContext>();

/** The innermost open transaction on `db` around the caller, if any. */
export function currentContext(db: SharedDatabase): TransactionContext | undefined {
  for (let c = storage.getStore(); c; c = c.parent) if (c.db === db) return c.open ? c : undefined;
  return undefined;
}

/** The innermost transaction context of any database, to chain a new one to. */
export function outerContext(): TransactionContext | undefined {
  return storage.getStore();
}

/**
 * Runs sasync's own statements (BEGIN, COMMIT, ROLLBACK) outside every
 * transaction context, so that the guard below never mistakes them for work
 * of a transaction that has already ended.
 */
export function control<T>(fn: () => Promise<T>): Promise<T> {
  return storage.exit(fn);
}

const GUARDED = Symbol('sasync.guarded');

/**
 * Makes `runner.query` refuse calls from work whose transaction has ended.
 * Without this, work that keeps going after it was cancelled (or that left a
 * query un-awaited) would run its SQL outside any transaction, or, on
 * sqlite's one shared connection, inside the next caller's transaction.
 * Parameters go through the dialect's `bindParameters` on the way.
 */
export function guardRunner(runner: QueryRunner, dialect: Dialect): void {
  const r = runner as QueryRunner & { [GUARDED]?: true };
  if (r[GUARDED]) return;
  r[GUARDED] = true;
  const query = runner.query;
  runner.query = function guardedQuery(this: QueryRunner, ...args: Parameters<QueryRunner['query']>) {
    for (let c = storage.getStore(); c; c = c.parent) {
      if (c.runner !== runner) continue;
      if (!c.open) {
        return Promise.reject(
          new TransactionError(
            'this transaction has already ended (committed, rolled back or cancelled): ' +
              'await every query inside the work function, and do not keep the manager after it returns',
            { sql: typeof args[0] === 'string' ? args[0] : undefined },
          ),
        );
      }
      break;
    }
    if (Array.isArray(args[1])) args[1] = dialect.bindParameters(args[1]);
    return query.apply(this, args);
  } as QueryRunner['query'];
}
