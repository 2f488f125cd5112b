import type { DataSource, EntityManager, QueryRunner } from 'typeorm';

/**
 * Decides whether a call through a {@link runnerView} may reach the database.
 */
export interface RunnerGate {
  /**
   * Called before each call that talks to the database or changes the
   * transaction's state. Throw (or return a rejecting Promise) to refuse it;
   * return a Promise to make it wait; return nothing to let it go on at once.
   */
  enter(method: string, args: readonly unknown[]): Promise<void> | void;
  /** The view's release() (default: the runner's own, through {@link enter}). */
  release?(release: () => Promise<void>): Promise<void>;
  /**
   * False once the view may no longer be used. It then reports that it is
   * not released, so that TypeORM's own "already released" checks let the
   * call through to {@link enter}, which refuses it with the gate's error.
   */
  usable?(): boolean;
}

/**
 * The calls that reach the database or change the runner's transaction
 * state. Everything a runner does goes through one of them: TypeORM's other
 * methods (schema, entity persistence) call these on `this`, which is the view
 * when they are called on it. The transaction calls are checked on entry,
 * before TypeORM changes its bookkeeping (startTransaction sets
 * `isTransactionActive` before it sends BEGIN). Once let through, they run on
 * the runner itself: TypeORM finds runners again by identity (postgres keeps
 * its connected runners in a list), and the many property reads of a query
 * are not worth a trip through the view each.
 */
const GATED = new Set<PropertyKey>([
  'query',
  'sql',
  'stream',
  'connect',
  'release',
  'startTransaction',
  'commitTransaction',
  'rollbackTransaction',
]);

/** The property a view answers with its gate (views are Proxies: no WeakMap per view needed). */
const GATE = Symbol('sasync.runnerGate');

/** The gate of a {@link runnerView}; undefined for any other runner. */
export function gateOf(runner: QueryRunner): RunnerGate | undefined {
  return (runner as QueryRunner & { [GATE]?: RunnerGate })[GATE];
}

/**
 * A view of `runner` whose database calls go through `gate`, with an
 * EntityManager of its own bound to the view (TypeORM's EntityManager and
 * repositories run everything on their `queryRunner`). Other properties, read
 * or written, are the runner's: the view shares its connection and
 * transaction state, only the gate differs. On sqlite, where TypeORM has one
 * runner for the whole DataSource, this is what lets each transaction (and
 * each outside caller) be told apart.
 *
 * TypeORM internals: the view is a Proxy over a live runner, and keeps the
 * `manager` TypeORM's EntityManager constructor sets on its runner; the
 * manager's `query` calls the view's own (what EntityManager.query and
 * DataSource.query end in). It relies on TypeORM routing every database call of a
 * runner through the methods in GATED, and on its EntityManager running
 * everything on its `queryRunner`. Breaks if a TypeORM release reaches the
 * connection another way: that call would bypass the gate
 * (spec/dialect/outside-calls.spec.ts, spec/transaction/kept-manager.spec.ts).
 */
export function runnerView(ds: DataSource, runner: QueryRunner, gate: RunnerGate): QueryRunner {
  let manager: EntityManager | undefined;
  const calls = new Map<PropertyKey, { readonly source: unknown; readonly call: unknown }>();
  const gated = (name: PropertyKey, fn: (...args: unknown[]) => unknown) =>
    function gatedCall(...args: unknown[]): unknown {
      if (name === 'release' && gate.release) return gate.release(() => fn.apply(runner, args) as Promise<void>);
      let entered: Promise<void> | void;
      try {
        entered = gate.enter(String(name), args);
      } catch (err) {
        return Promise.reject(err as Error);
      }
      return entered ? entered.then(() => fn.apply(runner, args)) : fn.apply(runner, args);
    };
  const view: QueryRunner = new Proxy(runner, {
    get(target, prop) {
      if (prop === 'manager') return manager;
      if (prop === GATE) return gate;
      if (prop === 'isReleased' && gate.usable && !gate.usable()) return false;
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function' || !GATED.has(prop)) return value;
      // The runner's own method may have been replaced (guardRunner does): wrap the current one.
      let known = calls.get(prop);
      if (known?.source !== value) calls.set(prop, (known = { source: value, call: gated(prop, value as never) }));
      return known.call;
    },
    set(target, prop, value: unknown) {
      // TypeORM's EntityManager constructor sets `manager` on its runner.
      if (prop === 'manager') return ((manager = value as EntityManager), true);
      return Reflect.set(target, prop, value, target);
    },
  });
  manager = ds.createEntityManager(view);
  // tx.query(): TypeORM's EntityManager.query and DataSource.query are two async functions (four
  // Promises a statement) around the view's query(); called on the view at once instead, once
  // DataSource.query's one check (a released runner: its own error) has passed.
  const throughDataSource = manager.query;
  manager.query = function (this: EntityManager, sql: string, parameters?: unknown[]) {
    return view.isReleased ? throughDataSource.call(this, sql, parameters) : view.query(sql, parameters);
  } as EntityManager['query'];
  return view;
}
