import type { EntityManager, QueryRunner } from 'typeorm';
import { TransactionError } from '../errors';
import type { Dialect } from '../dialect';
import { gateOf, runnerView } from '../dialect/typeorm/runner-view';
import { hookQuery, isHooked } from '../dialect/typeorm/query-hook';
import { directQuery } from '../dialect/typeorm/direct-query';
import { commitsBehind, markCommitBehind } from '../dialect/commit-behind';
import type { SharedDatabase } from '../broker/registry';
import { ScopeVar } from './async-scope';
import type { SlotHolder } from './slot';

/**
 * A transaction (or a savepoint inside one) that is running. Work started
 * inside it finds it through the async context (see async-scope.ts), which
 * is how a transaction method called from another joins the outer one.
 */
export class TransactionContext {
  #open = true;
  #savepoints: Promise<unknown> = Promise.resolve();
  #openSavepoints = 0;
  #joined = 0;

  /**
   * How this transaction commits, for commitWith() (run-transaction.ts sets
   * it on a whole transaction; a savepoint has none).
   */
  committer?: Committer;

  /**
   * The work's EntityManager, its own: bound to a view of the runner that
   * refuses every call once this transaction (or savepoint) has ended,
   * wherever the call comes from. On sqlite every transaction shares TypeORM's
   * one runner, so a manager kept from an ended transaction would otherwise
   * write inside whichever transaction holds the connection now.
   */
  readonly manager: EntityManager;

  /**
   * @param outer for a savepoint, the transaction it runs in: when that one
   *   ends, so does the savepoint, whatever it is doing.
   */
  constructor(
    readonly db: SharedDatabase,
    /** The connection's runner itself, for sasync's own BEGIN, COMMIT and ROLLBACK. */
    readonly runner: QueryRunner,
    readonly parent: TransactionContext | undefined,
    readonly outer?: TransactionContext,
  ) {
    const view = runnerView(runner.connection, runner, {
      enter: (method, args) => {
        if (!this.open) throw endedError(method === 'query' && typeof args[0] === 'string' ? args[0] : undefined);
      },
      usable: () => this.open,
    });
    this.manager = view.manager;
  }

  /** Still running: neither it nor the transaction it is part of has ended. */
  get open(): boolean {
    return this.#open && (this.outer?.open ?? true);
  }

  /** Savepoints started in this transaction that have not finished. */
  get openSavepoints(): number {
    return this.#openSavepoints;
  }

  /** Nested transactions running joined to this one (see run-joined.ts). */
  get joinedRunning(): number {
    return this.#joined;
  }

  /** Runs `fn`, a nested transaction's work joined to this one, counted in {@link joinedRunning} until it settles. */
  async joined<T>(fn: () => Promise<T>): Promise<T> {
    this.#joined++;
    try {
      return await fn();
    } finally {
      this.#joined--;
    }
  }

  /**
   * Runs `fn` in the caller's async context without this transaction in it
   * (its parent's instead): for sasync's own COMMIT started from inside the
   * work (commitWith()), which the guard must not refuse as a statement of
   * work whose transaction has ended.
   */
  runOutside<T>(fn: () => Promise<T>): Promise<T> {
    return storage.run(this.parent as TransactionContext, fn);
  }

  /** Refuses any further query from work that ran in this context. */
  close(): void {
    this.#open = false;
  }

  /**
   * Runs `fn` (the work) with this context current, until its Promise
   * settles; with `holder`, as the job holding its slot too (see SlotHolder).
   */
  run<T>(fn: () => Promise<T>, holder?: SlotHolder): Promise<T> {
    return holder ? storage.run(this, () => holder.run(fn)) : storage.run(this, fn);
  }

  /**
   * Runs a savepoint after those queued before it (two savepoints on one
   * connection must not interleave, or one would roll back the other), and
   * counts it as open until it finishes.
   */
  withSavepoint<T>(fn: () => Promise<T>): Promise<T> {
    this.#openSavepoints++;
    const next = this.#savepoints.then(fn, fn).finally(() => this.#openSavepoints--);
    this.#savepoints = next.catch(() => undefined);
    return next;
  }
}

const storage = new ScopeVar<TransactionContext>('sasync.transaction');

/**
 * The transaction (or savepoint) around the caller whose work was given
 * `manager`: found in the async context, so only while that work runs and
 * from inside it.
 */
export function transactionOf(manager: unknown): TransactionContext | undefined {
  for (let c = storage.get(); c; c = c.parent) if (c.manager === manager) return c;
  return undefined;
}

/** Whether `manager` is a manager sasync gave a transaction's work whose transaction has ended. */
export function endedManager(manager: unknown): boolean {
  const runner = (manager as { queryRunner?: QueryRunner } | null)?.queryRunner;
  const gate = runner && gateOf(runner);
  return gate?.usable?.() === false;
}

/**
 * How a whole transaction commits, for commitWith(): `arm` before its last
 * statement goes out with COMMIT behind it (from then on a lost connection or
 * a cancellation leaves the outcome unknown), `commit` the same COMMIT step
 * the transaction runs after its work (once: the work's own call and the one
 * after it share it), `fail` when that statement failed: the transaction
 * must not commit, even if the work catches the error and returns.
 */
export interface Committer {
  arm(): void;
  commit(): Promise<void>;
  fail(error: unknown): void;
}

/**
 * The innermost transaction on `db` around the caller, if any. It may have
 * ended (work that outlived its transaction): callers check `open`.
 */
export function currentContext(db: SharedDatabase): TransactionContext | undefined {
  for (let c = storage.get(); c; c = c.parent) if (c.db === db) return c;
  return undefined;
}

/** The error for work that goes on after its transaction ended. */
export function endedError(sql?: string): TransactionError {
  return new TransactionError(
    'this transaction has already ended (committed, rolled back or cancelled): ' +
      'await every query and nested transaction inside the work, and do not keep the manager after it returns',
    { sql },
  );
}

/** The innermost transaction context of any database, to chain a new one to. */
export function outerContext(): TransactionContext | undefined {
  return storage.get();
}

/** Throws if the transaction of `runner` (a transaction manager's, or the caller's on it) has ended. */
export function assertOpen(runner: QueryRunner): void {
  // A transaction manager's runner answers for its own transaction.
  const own = gateOf(runner);
  if (own?.usable) {
    if (!own.usable()) throw endedError();
    return;
  }
  for (let c = storage.get(); c; c = c.parent) {
    if (c.runner !== runner) continue;
    if (!c.open) throw endedError();
    return;
  }
}

/**
 * Makes `runner.query` refuse calls from work whose transaction has ended.
 * Without this, work that keeps going after it was cancelled (or that left a
 * query un-awaited) would run its SQL outside any transaction, or, on
 * sqlite's one shared connection, inside the next caller's transaction.
 * Parameters go through the dialect's `bindParameters` on the way.
 */
export function guardRunner(runner: QueryRunner, dialect: Dialect): void {
  // Asked first: no closure per transaction for a runner already guarded.
  if (isHooked(runner)) return;
  hookQuery(
    runner,
    (sql, parameters) => {
      for (let c = storage.get(); c; c = c.parent) {
        if (c.runner !== runner) continue;
        if (!c.open) throw endedError(typeof sql === 'string' ? sql : undefined);
        break;
      }
      if (typeof sql !== 'string') return parameters;
      // Without parameters too: SQL with placeholders and no values would bind NULLs.
      const bound = dialect.bindParameters(parameters ?? [], sql);
      if (parameters === undefined) return undefined;
      // commitWith()'s mark goes on with the values sent (see commit-behind.ts).
      if (bound !== parameters && commitsBehind(parameters)) markCommitBehind(bound);
      return bound;
    },
    directQuery(runner, dialect.name),
  );
}
