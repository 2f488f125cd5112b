import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { lastValueFrom, Observable, type Subscriber } from 'rxjs';
import type { DataSource, EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { ConnectionStats, CursorQuery } from '../dialect';
import { RowStream } from '../rows/row-stream';
import { checkConcurrency, checkStreamOptions, type StreamOptions } from '../rows/stream-options';
import { produceRowsWork, type Produced, type ValueSource } from '../rows/produce-rows';
import { openStream, type StreamHost } from '../rows/open-stream';
import { BrokerClosedError, DatabaseError, InvalidIdentifierError, SasyncError, TransactionError } from '../errors';
import { checkIdentifier } from '../schema/identifiers';
import { preparedStatement, type Prepared } from './prepared';
import { refusedParameters, refusedStatement } from './refused-parameters';
import type { ColumnSpec } from '../schema/column';
import { ensureTable } from '../schema/create-table';
import { checkTableSpec, type TableInfo, type TableOptions } from '../schema/table-spec';
import { resolveTarget, type DatabaseTarget, type ResolvedTarget } from '../target';
import { currentContext, endedError, outerContext } from '../transaction/context';
import { checkTransactOptions, mergeOptions, type TransactOptions } from '../transaction/options';
import { PriorityScheduler } from '../scheduler/priority-scheduler';
import { acquireDatabase, type SharedDatabase } from './registry';
import { storeAccess, type StoreAccess } from './store-access';
import { CancelToken, UNSUBSCRIBED } from '../cancel';
import { cancellation } from '../transaction/cancellation';
import { currentRun, runInScope, SlotHolder } from '../transaction/slot';
import { Retrying } from './retrying';
import {
  collect,
  runJoined,
  runSavepoint,
  runTransaction,
  type TransactionSpec,
  type Work,
} from '../transaction/run-transaction';

/** What transaction work may return: a value, a Promise of one, or an Observable of several. */
export type WorkResult<R> = Observable<R> | PromiseLike<R> | R;

/** A callable transaction method made by `broker.transaction()`. */
export interface TransactionMethod<A extends unknown[], R> {
  (...args: A): Observable<R>;
  /** The same method with per-call options (merged over the method's own). */
  with(options: TransactOptions): (...args: A) => Observable<R>;
}

/** Options of a broker. */
export interface BrokerOptions {
  /** A name for messages; defaults to the class name. */
  readonly name?: string;
}

/** @internal Used by the `@transact` decorator to pass the method's name. */
export const transactNamed = Symbol('sasync.transactNamed');

let globalTarget: ResolvedTarget | undefined;

/** Statements that start or end a transaction or savepoint. */
const TRANSACTION_CONTROL = /^\s*(begin|start|commit|end|rollback|abort|savepoint|release)\b/i;

/** The broker whose startup() or first() is running around the caller. */
const starting = new AsyncLocalStorage<AccessBroker>();

/**
 * Asynchronous access to a database: subclass it, set up tables in
 * `startup()`, and write transaction methods. Every transaction is a cold
 * Observable queued on a priority scheduler shared by all brokers on the same
 * target. See the README for a tour.
 */
export class AccessBroker {
  readonly #db: SharedDatabase;
  readonly #name: string;
  /** Start-up (the database opened, startup(), first()): tried again after a failure, see Retrying. */
  readonly #started: Retrying;
  readonly #tables: Record<string, TableInfo> = {};
  #running = false;
  #closing = false;
  #inflight = 0;
  #idle: (() => void)[] = [];
  #shutdown: Promise<void> | undefined;
  readonly #streams = new Set<(error: Error) => void>();
  readonly #streamHost: StreamHost;
  readonly #prepared = new Map<string, Prepared<unknown>>();

  /**
   * Sets the target that brokers (and stores) made without one use.
   * @throws DatabaseError for a malformed target.
   */
  static setup(target: DatabaseTarget): void {
    globalTarget = resolveTarget(target);
  }

  /**
   * @param target where the database is; without one, the target given to
   *   {@link AccessBroker.setup}.
   * @throws DatabaseError for a malformed target, or none at all.
   */
  constructor(target?: DatabaseTarget, options: BrokerOptions = {}) {
    const resolved = target === undefined ? globalTarget : resolveTarget(target);
    if (!resolved) {
      throw new DatabaseError(
        'no database target: pass one to the constructor or call AccessBroker.setup(target) first',
      );
    }
    this.#name = options.name ?? new.target.name;
    this.#db = acquireDatabase(resolved);
    this.#streamHost = {
      db: this.#db,
      name: this.#name,
      admit: async () => {
        const startup = starting.getStore() === this;
        if (this.#closing && !startup && !this.#insideOwnRun()) throw new BrokerClosedError(this.#name, 'a row stream');
        if (!this.#running && !startup) await this.#whenStarted();
      },
      transactionQueue: () => {
        return currentRun(this.#db)?.queue ?? this.#db.scheduler;
      },
      track: (close) => {
        this.#streams.add(close);
        return () => this.#streams.delete(close);
      },
    };
    // Starts after the constructor returns, when subclass fields exist.
    this.#started = new Retrying(() => this.#start());
  }

  /**
   * Runs once, before the first transaction: create tables here with
   * {@link table}. Work submitted meanwhile waits.
   */
  protected startup(): Promise<void> | void {}

  /** Runs as the first transaction, right after {@link startup}. */
  protected first(tx: EntityManager): Promise<void> | void {
    void tx;
  }

  /** True once startup and the first transaction are done, until shutdown. */
  get running(): boolean {
    return this.#running && !this.#closing;
  }

  /**
   * Resolves when the broker is running; rejects if start-up failed. After a
   * failure, a later call tries the start-up again (waiting out the backoff
   * first), so that a broker recovers once its database is back.
   */
  waitUntilRunning(): Promise<void> {
    return this.#closing ? this.#started.current : this.#started.ensureWaiting();
  }

  /** Which database this broker talks to. */
  get dialect(): 'sqlite' | 'postgres' {
    return this.#db.dialect.name;
  }

  /** The shared TypeORM DataSource (initialized once the broker runs). */
  get dataSource(): DataSource {
    return this.#db.dataSource;
  }

  /** How the DataSource's connections are being used. */
  connectionStats(): ConnectionStats {
    return this.#db.dialect.connectionStats(this.#db.dataSource);
  }

  /** Tables this broker made or checked with {@link table}, by name. */
  get tables(): Readonly<Record<string, TableInfo>> {
    return this.#tables;
  }

  /**
   * The current transaction's EntityManager, inside transaction work.
   * @throws TransactionError outside a transaction.
   */
  get tx(): EntityManager {
    const ctx = currentContext(this.#db);
    if (!ctx) {
      throw new TransactionError(
        'this.tx is only available inside a transaction: use it in a @transact method or transact() work',
      );
    }
    return ctx.manager;
  }

  /**
   * A cold Observable that runs `work` in a transaction on each subscription
   * and emits what it produced after COMMIT. Inside another transaction on the
   * same database it joins that one (or, with `savepoint`, runs in a
   * SAVEPOINT). Unsubscribing removes queued work or rolls running work back.
   * @throws RangeError at once for bad options.
   */
  transact<R>(
    work: (tx: EntityManager) => RowStream<R> | PromiseLike<RowStream<R>>,
    options?: TransactOptions,
  ): Observable<R>;
  transact<R>(work: (tx: EntityManager) => WorkResult<R>, options?: TransactOptions): Observable<R>;
  transact<R>(work: (tx: EntityManager) => WorkResult<R>, options?: TransactOptions): Observable<R> {
    checkTransactOptions(options);
    return this.#transaction(work, options ?? {}, options?.name, false) as Observable<R>;
  }

  /**
   * Makes a transaction method: each call returns a cold Observable, as
   * {@link transact} does; `.with(options)` overrides options for one call.
   */
  transaction<A extends unknown[], R>(
    work: (tx: EntityManager, ...args: A) => RowStream<R> | PromiseLike<RowStream<R>>,
    options?: TransactOptions,
  ): TransactionMethod<A, R>;
  transaction<A extends unknown[], R>(
    work: (tx: EntityManager, ...args: A) => WorkResult<R>,
    options?: TransactOptions,
  ): TransactionMethod<A, R>;
  transaction<A extends unknown[], R>(
    work: (tx: EntityManager, ...args: A) => WorkResult<R>,
    options?: TransactOptions,
  ): TransactionMethod<A, R> {
    checkTransactOptions(options);
    const make =
      (opts: TransactOptions | undefined) =>
      (...args: A): Observable<R> =>
        this.#transaction(
          (tx) => work(tx, ...args),
          opts ?? {},
          opts?.name ?? (work.name || undefined),
          false,
        ) as Observable<R>;
    const method = make(options) as TransactionMethod<A, R>;
    method.with = (extra: TransactOptions) => {
      checkTransactOptions(extra);
      return make(mergeOptions(options, extra));
    };
    return method;
  }

  /** @internal The `@transact` decorator's entry, with the method's name. */
  [transactNamed](work: Work, options: TransactOptions | undefined, method: string): Observable<unknown> {
    return this.#transaction(work, options ?? {}, options?.name ?? method, false);
  }

  /**
   * Creates a table and its indexes if missing; concurrent calls for one name
   * share one creation. Names are validated and types mapped per dialect.
   * Resolves with the table's description, also kept in {@link tables}.
   * @throws InvalidIdentifierError for a bad name or type, InvalidSpecError
   *   for any other spec field, before any SQL runs.
   */
  async table(name: string, columns: readonly ColumnSpec[], options?: TableOptions): Promise<TableInfo> {
    const info = checkTableSpec(name, columns, options);
    if (this.#closing && starting.getStore() !== this) throw new BrokerClosedError(this.#name, `table(${name})`);
    // Outside start-up, after it, like any other call: a failed start-up is tried again first.
    if (starting.getStore() === this) await this.#db.ready;
    else await this.#whenStarted();
    // Only creations under way are shared: a later call checks the catalog
    // again (the table may have been dropped, or a creation rolled back).
    const pending = this.#db.tables.get(name);
    if (pending && sameSpec(pending.info, info)) return (this.#tables[name] = await pending.done);
    const create = () =>
      lastValueFrom(
        // The dialect begins the transaction (autocommit: no BEGIN here) so
        // that other processes creating the same tables wait for this one.
        this.#transaction(
          (tx) =>
            this.#db.dialect.ddlTransaction(tx.queryRunner!, () =>
              ensureTable(tx.queryRunner!, this.#db.dialect, info),
            ),
          { doNext: true, retry: 2 },
          `table(${name})`,
          true,
          true,
        ),
        { defaultValue: undefined },
      ).then(() => info);
    const entry = { info, done: pending ? pending.done.catch(() => undefined).then(create) : create() };
    this.#db.tables.set(name, entry);
    try {
      this.#tables[name] = await entry.done;
      return info;
    } finally {
      if (this.#db.tables.get(name) === entry) this.#db.tables.delete(name);
    }
  }

  /**
   * Runs `fn` through the queue without a transaction (sAsync's
   * deferToQueue); cold, like a transaction.
   */
  run<R>(fn: () => WorkResult<R>, options?: TransactOptions): Observable<R> {
    checkTransactOptions(options);
    return new Observable<unknown>((subscriber) => {
      const outer = currentContext(this.#db);
      // Inside a transaction the queue slot is already this caller's: queuing
      // again would wait for itself on sqlite.
      if (outer)
        return void deliver(outer.open ? attempt(() => collect(fn())) : Promise.reject(endedError()), subscriber);
      // Work that fn submits must not wait for the slot fn itself holds: it
      // queues on a queue of its own, as many at once as the shared one allows.
      const queue = new PriorityScheduler(this.#db.scheduler.concurrency);
      const job = (token: CancelToken) =>
        heedCancellation(
          runInScope({ db: this.#db, queue, owner: this, live: true }, () => attempt(() => collect(fn()))),
          token,
          options?.name ?? 'run',
        );
      return this.#queue(subscriber, options ?? {}, 'run', false, job);
    }) as Observable<R>;
  }

  /**
   * The rows of a query as a {@link RowStream}: cold, read in batches of
   * `batchSize` only as fast as they are consumed, on a connection of the
   * stream's own (or, inside a transaction, on that transaction's). Takes raw
   * SQL with the driver's placeholders, or a TypeORM SelectQueryBuilder.
   * Streams still open when the broker shuts down fail with BrokerClosedError.
   * A bound value a driver would change fails the stream with
   * InvalidParameterError before it takes a connection.
   * @throws RangeError at once for bad options.
   */
  stream<T = ObjectLiteral>(sql: string, parameters?: readonly unknown[], options?: StreamOptions): RowStream<T>;
  /** A QueryBuilder brings its own parameters: the second argument is the options. */
  stream<T = ObjectLiteral>(query: SelectQueryBuilder<ObjectLiteral>, options?: StreamOptions): RowStream<T>;
  stream<T = ObjectLiteral>(
    query: string | SelectQueryBuilder<ObjectLiteral>,
    second?: readonly unknown[] | StreamOptions,
    third?: StreamOptions,
  ): RowStream<T> {
    let cursor: CursorQuery;
    let options: StreamOptions;
    if (typeof query === 'string') {
      if (second !== undefined && !Array.isArray(second)) {
        throw new TypeError('stream(sql, parameters, options): parameters must be an array (pass [] for none)');
      }
      options = third ?? {};
      checkStreamOptions(options);
      cursor = { sql: query, parameters: second ? [...(second as readonly unknown[])] : [], key: options.key };
    } else {
      if (Array.isArray(second) || third !== undefined) {
        throw new TypeError('a QueryBuilder brings its own parameters: call stream(queryBuilder, options)');
      }
      options = (second as StreamOptions | undefined) ?? {};
      checkStreamOptions(options);
      const [sql, values] = query.getQueryAndParameters();
      cursor = { sql, parameters: values, key: options.key };
    }
    if (options.key !== undefined) checkIdentifier('column', options.key);
    // Refused values fail the stream before it waits for a connection.
    const refused = refusedParameters(this.#db.dialect, cursor.parameters, cursor.sql);
    return new RowStream<T>(
      (signal) =>
        refused === undefined ? openStream<T>(this.#streamHost, cursor, options, signal) : Promise.reject(refused),
      options,
    );
  }

  /**
   * Runs one SQL statement and emits its rows as one array: inside the
   * current transaction if there is one, else on its own, in autocommit (a
   * single statement is atomic by itself), or in a transaction when
   * `isolation` is given. BEGIN, COMMIT and friends are refused: use
   * transact(). Use the driver's placeholders: `$1` on postgres, `?` on
   * sqlite. Values are always bound, never spliced into the SQL, and checked
   * first: one a driver would change (or a count that does not match the
   * placeholders) fails the Observable with InvalidParameterError, unqueued.
   */
  query<T = ObjectLiteral>(sql: string, parameters?: readonly unknown[], options?: TransactOptions): Observable<T[]> {
    checkTransactOptions(options);
    const values = parameters ? [...parameters] : undefined;
    const refused = refusedStatement<T[]>(this.#db.dialect, values ?? [], sql);
    if (refused) return refused;
    return this.#statement((tx) => tx.query(sql, values) as Promise<T[]>, options ?? {}, options?.name ?? 'query', sql);
  }

  /**
   * A statement compiled once and run again with new parameters (sAsync's
   * `s()`): on postgres a named server-side prepared statement (parsed once
   * per connection), on sqlite a cached statement. The same name with the
   * same SQL returns the same Prepared; with other SQL it throws.
   * @throws InvalidIdentifierError for a bad name or a name reused for other SQL.
   */
  prepare<T = ObjectLiteral>(name: string, sql: string): Prepared<T> {
    const existing = this.#prepared.get(name);
    if (existing) {
      if (existing.sql !== sql) {
        throw new InvalidIdentifierError(
          'statement',
          name,
          `it is already prepared for other SQL (${JSON.stringify(existing.sql)}); use another name`,
        );
      }
      return existing as Prepared<T>;
    }
    checkIdentifier('statement', name);
    const statement = preparedStatement(sql);
    const prepared: Prepared<T> = {
      name,
      sql,
      query: (parameters, options) => {
        checkTransactOptions(options);
        const values = parameters ? [...parameters] : [];
        const refused = refusedStatement<T[]>(this.#db.dialect, values, sql);
        if (refused) return refused;
        const run = (tx: EntityManager) =>
          this.#db.dialect.runPrepared(tx.queryRunner!, statement, values) as Promise<T[]>;
        return this.#statement(run, options ?? {}, options?.name ?? name, sql);
      },
      stream: (parameters, options) => this.stream<T>(sql, parameters, options),
    };
    this.#prepared.set(name, prepared as Prepared<unknown>);
    return prepared;
  }

  /**
   * sAsync's produceRows: calls `f` for each of `values` (an iterable, async
   * iterable or Observable; up to `concurrency` calls at once, default 8),
   * and in one transaction inserts a row per value in input order, with `f`'s
   * result in `column` and the `constants` beside it. Emits the rows' primary
   * keys in input order after COMMIT. A failure of `f` rolls back every row.
   * `values` is read when the transaction runs. A source that may not give
   * the same values twice (a generator, an async iterable, any iterable but
   * an array) is read once and replayed to a `retry` or a second subscription,
   * which call `f` again for each value: a retry never commits a partial or
   * empty result. Arrays are read again; Observables are subscribed again (a
   * hot one must replay).
   * @throws InvalidIdentifierError at once for bad names, TypeError for values
   *   that are not a source; a missing table or column fails the transaction
   *   before anything is written.
   */
  produceRows<V, R>(
    f: (value: V) => Produced<R>,
    values: ValueSource<V>,
    table: string,
    column: string,
    constants: Readonly<Record<string, unknown>> = {},
    options: TransactOptions & { readonly concurrency?: number } = {},
  ): Observable<unknown> {
    const { concurrency = 8, ...transact } = options;
    checkConcurrency(concurrency);
    checkTransactOptions(transact);
    const work = produceRowsWork(this.#db.dialect, { f, values, table, column, constants, concurrency });
    return this.#transaction(work, transact, transact.name ?? 'produceRows', false);
  }

  /** One statement through the queue, in the current transaction or in autocommit. */
  #statement<R>(
    work: (tx: EntityManager) => Promise<R>,
    options: TransactOptions,
    method: string,
    sql: string,
  ): Observable<R> {
    const autocommit = options.isolation === undefined;
    const statement = this.#transaction(work, options, method, false, autocommit) as Observable<R>;
    if (!TRANSACTION_CONTROL.test(sql)) return statement;
    // On its own, BEGIN would leave a transaction open on a pooled connection.
    return new Observable<R>((subscriber) => {
      const outer = currentContext(this.#db);
      if (outer?.open) return statement.subscribe(subscriber);
      subscriber.error(
        new TransactionError(
          `${method} runs one statement on its own and cannot control a transaction (${sql.trim().split(/\s/)[0]}): ` +
            'use transact() for a transaction, and { savepoint: true } for a savepoint',
          { method, sql },
        ),
      );
      return undefined;
    });
  }

  /**
   * Resolves when the work this broker took has finished, including the
   * rollback of work that was cancelled (other brokers' work does not count).
   */
  async drain(): Promise<void> {
    await this.#started.current.catch(() => undefined);
    while (this.#inflight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /** @internal What the stores need (see store-access.ts). */
  [storeAccess](): StoreAccess {
    return {
      placeholder: (n) => this.#db.dialect.placeholder(n),
      bus: (options) => this.#db.bus(options),
    };
  }

  /**
   * Stops taking work, waits for work already submitted, then gives up this
   * broker's share of the DataSource (the last broker closes it). Calling it
   * again returns the same Promise.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#close();
    return this.#shutdown;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    await this.drain();
    this.#running = false;
    // Reads lose nothing: a stream still open now is closed, its consumer told why.
    for (const close of [...this.#streams]) close(new BrokerClosedError(this.#name, 'its row streams'));
    await this.#db.release();
  }

  /**
   * Resolves once the broker runs. After a failed start-up (the database was
   * down, locked or missing) the next call past the backoff tries again and
   * waits for it; calls before that fail at once with the last error. Once
   * shut down, nothing is tried again.
   */
  #whenStarted(): Promise<void> {
    return this.#closing ? this.#started.current : this.#started.ensure();
  }

  async #start(): Promise<void> {
    await this.#db.open();
    try {
      await this.#startUp();
    } catch (cause) {
      if (cause instanceof SasyncError) throw cause;
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new DatabaseError(
        `${this.#name} could not start: ${reason}. Fix its startup() or first(); the next call tries the start-up again`,
        { cause, target: this.#db.label },
      );
    }
    this.#running = true;
  }

  async #startUp(): Promise<void> {
    // Work that startup() and first() submit is part of start-up: it must not
    // wait for the start-up to finish, or neither ever would.
    await starting.run(this, async () => {
      await this.startup();
      if (this.first === AccessBroker.prototype.first) return;
      const first = this.#transaction((tx) => this.first(tx), { doNext: true }, 'first', true);
      await lastValueFrom(first, { defaultValue: undefined });
    });
  }

  #transaction(
    work: Work,
    options: TransactOptions,
    method: string | undefined,
    internal: boolean,
    autocommit = false,
  ): Observable<unknown> {
    return new Observable<unknown>((subscriber) => {
      const spec: TransactionSpec = { db: this.#db, work, options, method, parent: outerContext(), autocommit };
      const outer = currentContext(this.#db);
      if (!outer) {
        return this.#queue(subscriber, options, method, internal, (signal, emit) =>
          runTransaction({ ...spec, emit }, signal),
        );
      }
      // Work that outlived its transaction must not start a new one in its place.
      if (!outer.open) return void subscriber.error(endedError());
      const token = new CancelToken();
      const result = options.savepoint ? runSavepoint(spec, outer, token) : runJoined(spec, outer);
      deliver(result, subscriber);
      return () => token.abort(UNSUBSCRIBED);
    });
  }

  /**
   * Queues a job for this broker: after start-up unless `internal` (or
   * submitted by start-up itself), and never after shutdown. Results reach
   * the subscriber in the async context it subscribed from, never in that of
   * whatever transaction happened to start the job.
   */
  #queue(
    subscriber: Subscriber<unknown>,
    options: TransactOptions,
    method: string | undefined,
    internal: boolean,
    job: (token: CancelToken, emit: (value: unknown) => void) => Promise<unknown[]>,
  ): () => void {
    const startupWork = internal || starting.getStore() === this;
    if (this.#closing && !startupWork && !this.#insideOwnRun()) {
      subscriber.error(new BrokerClosedError(this.#name));
      return () => undefined;
    }
    const scope = new AsyncResource('sasync.work');
    const inScope = (fn: () => void) => scope.runInAsyncScope(fn);
    // Unsubscribing, the caller's signal and the timeout all cancel through one token.
    const token = new CancelToken();
    const cancel = cancellation(options, options.name ?? method, token, (reason) => subscriber.error(reason));
    let unsubscribe: (() => void) | undefined;
    // No parameter: the scheduler needs no AbortController for this job.
    const tracked = () => {
      this.#inflight++;
      cancel.started();
      const emit = (value: unknown) => inScope(() => subscriber.next(value));
      // A job that throws before returning its Promise (user code called
      // synchronously) must still be counted as settled, or drain() and
      // shutdown() would wait for it forever.
      // Where outside calls wait for the queue (sqlite), the job is marked as
      // holding its slot, so that what it calls does not wait for itself.
      let holder: SlotHolder | undefined;
      const run = () => attempt(() => job(token, emit));
      return scope
        .runInAsyncScope(() => (this.#db.gatesOutsideCalls ? (holder = new SlotHolder(queue)).run(run) : run()))
        .finally(() => {
          holder?.end();
          this.#settled();
        });
    };
    let queue = this.#db.scheduler;
    const enqueue = () => {
      if (subscriber.closed) return;
      const run = currentRun(this.#db);
      if (run) queue = run.queue;
      const sub = queue.schedule(tracked, options).subscribe({
        next: (values) => inScope(() => values.forEach((v) => subscriber.next(v))),
        error: (err: unknown) => inScope(() => subscriber.error(err)),
        complete: () => inScope(() => subscriber.complete()),
      });
      cancel.onQueuedAbort(() => sub.unsubscribe());
      unsubscribe = () => sub.unsubscribe();
    };
    this.#inflight++;
    if (startupWork || this.#running) enqueue();
    else this.#whenStarted().then(enqueue, (err: unknown) => inScope(() => subscriber.error(err)));
    return () => {
      unsubscribe?.();
      token.abort(UNSUBSCRIBED);
      cancel.dispose();
      this.#settled();
    };
  }

  /** Whether the caller is the function of a run() this broker took (it may submit work while shutdown() waits for it). */
  #insideOwnRun(): boolean {
    return currentRun(this.#db)?.owner === this;
  }

  #settled(): void {
    if (--this.#inflight === 0) this.#idle.splice(0).forEach((resolve) => resolve());
  }
}

/**
 * A run()'s result, unless it is cancelled (timeout, signal, unsubscribe)
 * first: then the caller is told at once, while the function, which nothing
 * can stop, runs on to its end holding its place in the queue.
 */
function heedCancellation(result: Promise<unknown[]>, token: CancelToken, method: string): Promise<unknown[]> {
  const cancelled = () => {
    const reason = token.reason instanceof Error ? token.reason.message : String(token.reason);
    return new TransactionError(
      `${method} was cancelled: ${reason}. Its function cannot be stopped from outside: it runs on to its end ` +
        '(holding its place in the queue), and what it returns is dropped',
      { cause: token.reason, method },
    );
  };
  const stop = token.onAbort(() => void token.report(cancelled()));
  return result
    .then(
      (values) => {
        if (token.aborted) throw cancelled();
        return values;
      },
      (err: unknown) => {
        throw token.aborted ? cancelled() : err;
      },
    )
    .finally(stop);
}

/** What `fn` returns, or a rejected Promise if it throws instead of returning one. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}

function deliver(result: Promise<unknown[]>, subscriber: Subscriber<unknown>): void {
  result.then(
    (values) => {
      values.forEach((v) => subscriber.next(v));
      subscriber.complete();
    },
    (err: unknown) => subscriber.error(err),
  );
}

function sameSpec(a: TableInfo, b: TableInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
