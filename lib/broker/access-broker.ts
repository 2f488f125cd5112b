import { lastValueFrom, type Observable } from 'rxjs';
import type { DataSource, EntityManager, ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import '../async-dispose';
import type { BusOptions, ChangeBus, ConnectionStats } from '../dialect';
import { DatabaseError, TransactionError } from '../errors';
import { brokerLive } from '../live/broker-live';
import type { LiveOptions, LiveResult } from '../live/types';
import { produceRowsWork, type Produced, type ValueSource } from '../rows/produce-rows';
import { queryBuilderStream } from '../rows/query-builder-stream';
import { queryStream } from '../rows/query-stream';
import type { RowStream } from '../rows/row-stream';
import { checkConcurrency, type QueryBuilderStreamOptions, type StreamOptions } from '../rows/stream-options';
import { migrate } from '../migrations/migrate';
import type { ColumnSpec } from '../schema/column';
import type { TableInfo, TableOptions } from '../schema/table-spec';
import { resolveTarget, type DatabaseTarget, type ResolvedTarget } from '../target';
import type { Awaitable } from '../transaction/awaitable';
import { currentContext } from '../transaction/context';
import type { TransactionEvent } from '../transaction/events';
import { checkTransactOptions, mergeOptions, type TransactOptions } from '../transaction/options';
import type { Work } from '../transaction/run-transaction';
import { Submitter } from '../transaction/submit';
import { readOnlyTransaction } from '../replicas/read-only-work';
import type { ReplicaReadOptions } from '../replicas/read-options';
import { ReplicaRouter } from '../replicas/router';
import { Lifecycle } from './lifecycle';
import type { Prepared } from './prepared';
import { acquireDatabase, type SharedDatabase } from './registry';
import { runInQueue, type WorkResult } from './run';
import { Statements } from './statements';
import { busAccess, storeAccess, type StoreAccess } from './store-access';
import { Tables } from './tables';

export type { WorkResult } from './run';

/**
 * A callable transaction method made by `broker.transaction()`: each call
 * returns a cold {@link Awaitable} (subscribe to it, or await it).
 */
export interface TransactionMethod<A extends unknown[], R> {
  (...args: A): Awaitable<R>;
  /** The same method with per-call options (merged over the method's own). */
  with(options: TransactOptions): (...args: A) => Awaitable<R>;
}

/** Options of a broker. */
export interface BrokerOptions {
  /** A name for messages; defaults to the class name. */
  readonly name?: string;
  /**
   * Run the DataSource's pending migrations at start-up, before startup()
   * and first() (see {@link AccessBroker.migrate}); a failed migration
   * fails the start-up.
   */
  readonly migrate?: boolean;
}

/** @internal Used by the `@transact` decorator to pass the method's name. */
export const transactNamed = Symbol('sasync.transactNamed');

let globalTarget: ResolvedTarget | undefined;

/**
 * Asynchronous access to a database: subclass it, set up tables in
 * `startup()`, and write transaction methods. Every transaction is a cold
 * Observable queued on a priority scheduler shared by all brokers on the same
 * target. See the README for a tour.
 *
 * The broker is the public face: its lifecycle (start-up, drain, shutdown)
 * is a `Lifecycle`, its queueing a `Submitter`, its statements
 * `Statements` and its tables `Tables` (internal classes, in `lib/broker/`).
 */
export class AccessBroker implements AsyncDisposable {
  readonly #db: SharedDatabase;
  readonly #lifecycle: Lifecycle;
  readonly #submitter: Submitter;
  readonly #statements: Statements;
  readonly #tables: Tables;
  readonly #migrateAtStart: boolean;
  /** A replicated target's routing (reads on replicas); undefined for one database. */
  #router: ReplicaRouter | undefined;
  #shutdown: Promise<void> | undefined;

  /**
   * Sets the target that brokers (and stores) made without one use: a URL,
   * DataSourceOptions, or the app's own DataSource (see {@link DatabaseTarget}).
   * @throws DatabaseError for a malformed target, or a DataSource of a type
   *   sasync does not support.
   */
  static setup(target: DatabaseTarget): void {
    globalTarget = resolveTarget(target);
  }

  /**
   * @param target where the database is; without one, the target given to
   *   {@link AccessBroker.setup}. An existing TypeORM DataSource is used as
   *   it is (`broker.dataSource` is that object), shared by every broker and
   *   store on it, initialized if it is not yet, and never destroyed by
   *   sasync: its owner destroys it after the brokers' shutdown().
   * @throws DatabaseError for a malformed target, none at all, a DataSource
   *   of a type sasync does not support, or one whose options it cannot
   *   work with (a postgres pool under 2 connections, a schema not on the
   *   search_path), or another broker's DataSource once every broker on it
   *   has shut down; MigrationError for `migrationsRun: true` on a DataSource
   *   sasync initializes (use `{ migrate: true }`).
   */
  constructor(target?: DatabaseTarget, options: BrokerOptions = {}) {
    const resolved = target === undefined ? globalTarget : resolveTarget(target);
    if (!resolved) {
      throw new DatabaseError(
        'no database target: pass one to the constructor or call AccessBroker.setup(target) first',
      );
    }
    this.#db = acquireDatabase(resolved);
    // Starts after the constructor returns, when subclass fields exist.
    this.#lifecycle = new Lifecycle(this.#db, options.name ?? new.target.name, () => this.#startUp());
    this.#submitter = new Submitter(this.#db, this.#lifecycle, options.name ?? new.target.name);
    this.#statements = new Statements(this.#db, this.#submitter, this.#lifecycle);
    this.#tables = new Tables(this.#db, this.#lifecycle, this.#submitter);
    this.#migrateAtStart = options.migrate ?? false;
    this.#router =
      resolved.replicas && resolved.replication
        ? new ReplicaRouter(
            this.#db,
            { statements: this.#statements, submitter: this.#submitter, lifecycle: this.#lifecycle },
            resolved.replicas,
            resolved.replication,
            options.name ?? new.target.name,
          )
        : undefined;
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
    return this.#lifecycle.running;
  }

  /**
   * Resolves when the broker is running; rejects if start-up failed. After a
   * failure, a later call tries the start-up again (waiting out the backoff
   * first), so that a broker recovers once its database is back.
   */
  waitUntilRunning(): Promise<void> {
    return this.#lifecycle.waitUntilRunning();
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

  /**
   * What happens to the work this broker queues, as it happens: each
   * transaction, statement (`query()`, `prepare().query()`) and `run()`
   * emits `queued`, `started`, any `retried`, then `committed`,
   * `rolledBack` or `cancelled`, with its method, niceness, queue wait and
   * run time (see {@link TransactionEvent}); events of one run share an
   * `id`. Work of this broker only, even where brokers share a queue. Work
   * that joins a running transaction (or runs in its SAVEPOINT) is part of
   * that transaction and has no events of its own; neither have row streams.
   * On a replicated target, reads run on a replica emit here too, their
   * events naming where they ran (`server`, `replica`); a read that failed
   * on a replica and ran again on the primary shows both runs, the second
   * naming the first (`fallbackOf`).
   *
   * Hot: a subscriber sees what happens while it is subscribed, and without
   * subscribers no event is made at all. Subscribers are called
   * synchronously, each event before the work's own subscriber hears of the
   * same step, and outside the transaction (work submitted from a subscriber
   * is queued, not joined); keep them quick. What a subscriber throws is
   * reported by RxJS (`config.onUnhandledError`) and harms no transaction.
   * It completes when the broker has shut down.
   *
   * ```ts
   * broker.events$.subscribe((e) => {
   *   if (e.type === 'committed') console.log(`${e.method} waited ${e.queueWait} ms, ran ${e.runTime} ms`);
   * });
   * ```
   */
  get events$(): Observable<TransactionEvent> {
    return this.#submitter.events.events$;
  }

  /** Tables this broker made or checked with {@link table}, by name. */
  get tables(): Readonly<Record<string, TableInfo>> {
    return this.#tables.known;
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
   * It is also awaitable: `await broker.transact(work)` runs it once and
   * gives its last value (see {@link Awaitable}).
   *
   * With `readOnly: true` the transaction is read-only (a write fails it with
   * ReadOnlyError, having changed nothing) and, on a replicated target,
   * runs on a replica as a read does (see {@link query}); every other
   * transaction runs on the primary.
   * @throws RangeError at once for bad options.
   */
  transact<R>(
    work: (tx: EntityManager) => RowStream<R> | PromiseLike<RowStream<R>>,
    options?: TransactOptions,
  ): Awaitable<NoInfer<R>>;
  transact<R>(work: (tx: EntityManager) => WorkResult<R>, options?: TransactOptions): Awaitable<NoInfer<R>>;
  transact<R>(work: (tx: EntityManager) => WorkResult<R>, options?: TransactOptions): Awaitable<NoInfer<R>> {
    checkTransactOptions(options);
    return this.#submit(work, options ?? {}, options?.name) as Awaitable<R>;
  }

  /**
   * Makes a transaction method: each call returns a cold Observable, as
   * {@link transact} does; `.with(options)` overrides options for one call.
   * Its name in errors and `events$` is `options.name`, else the work
   * function's own name: an arrow function passed here has none (it would be
   * reported as `transact`), so give `readonly add = this.transaction(async
   * (tx, …) => …, { name: 'add' })`.
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
      (...args: A): Awaitable<R> =>
        this.#submit((tx) => work(tx, ...args), opts ?? {}, opts?.name ?? (work.name || undefined)) as Awaitable<R>;
    const method = make(options) as TransactionMethod<A, R>;
    method.with = (extra: TransactOptions) => {
      checkTransactOptions(extra);
      return make(mergeOptions(options, extra));
    };
    return method;
  }

  /** @internal The `@transact` decorator's entry, with the method's name. */
  [transactNamed](work: Work, options: TransactOptions | undefined, method: string): Awaitable<unknown> {
    return this.#submit(work, options ?? {}, options?.name ?? method);
  }

  /**
   * A transaction as the options say: read-only ones (`readOnly: true`) on
   * a replica of a replicated target, in a read-only transaction; the rest
   * on the broker's (primary) queue.
   */
  #submit(work: Work, options: TransactOptions, method: string | undefined): Awaitable<unknown> {
    if (!options.readOnly) return this.#submitter.transaction(work, options, method);
    if (this.#router) return this.#router.readOnly(work, options, method);
    return readOnlyTransaction(this.#db, this.#submitter, work, options, method);
  }

  /**
   * A consistency token: where the primary's WAL stood after the latest
   * commit made through its DataSource in this process (this broker's
   * writes, and those of every broker and store on the same primary). A
   * read given it as `{ after: token }`, through a broker on a replicated
   * target in any process, runs on a replica only once that replica has
   * replayed that commit (else on the primary, after `maxReplicaWait`): hand
   * it from the request that wrote to the next one. Resolves once the
   * positions of commits still on their way are in (a round trip at most).
   * On a target without replicas it is `'0/0'`: there is nothing to wait
   * for; a broker that writes for readers elsewhere must be on a
   * replicated target (`replicas: []` will do) for its commits to be known.
   */
  consistencyToken(): Promise<string> {
    return this.#router?.consistencyToken() ?? Promise.resolve('0/0');
  }

  /**
   * Creates a table and its indexes if missing; concurrent calls for one name
   * share one creation. Names are validated and types mapped per dialect.
   * A table already there is compared with the spec: a spec column or index
   * missing, a column of another type or nullability, or an index on other
   * columns fails with SchemaDriftError, changing nothing; with
   * `{ evolve: true }` missing columns and indexes are added. Nothing is ever dropped
   * or changed: that takes a migration ({@link migrate}). Resolves with the
   * table's description, also kept in {@link tables}.
   * @throws InvalidIdentifierError for a bad name or type, InvalidSpecError
   *   for any other spec field, before any SQL runs; SchemaDriftError (see above).
   */
  table(name: string, columns: readonly ColumnSpec[], options?: TableOptions): Promise<TableInfo> {
    return this.#tables.ensure(name, columns, options);
  }

  /**
   * Runs the DataSource's pending TypeORM migrations (its `migrations`
   * option), in order, each in a transaction of its own, queued ahead of
   * other work, under a lock so that two processes never run one twice
   * (postgres: an advisory lock; sqlite: BEGIN IMMEDIATE). They are recorded
   * in TypeORM's migrations table, so the TypeORM CLI sees them as run.
   * Cold and awaitable: emits the names of the migrations it ran, once, as
   * an array. A migration that fails is rolled back (the schema stays as it
   * was) and fails it with TransactionError; the ones before it stay done.
   * Outside the start-up it waits for the start-up; the `migrate: true`
   * option runs it before startup().
   * @throws MigrationError (through the Observable, before anything runs)
   *   for a `migrations` folder that does not exist, two migrations of one
   *   name, a name without a timestamp, `transaction = false`, or the
   *   DataSource's `migrationsTransactionMode` other than `'each'` or its
   *   `migrationsSchema` (which TypeORM 0.3 does not have).
   *
   * ```ts
   * const ran = await broker.migrate(); // ['AddEmail1700000000000']
   * ```
   */
  migrate(): Awaitable<readonly string[]> {
    return migrate(this.#db, this.#submitter, this.#lifecycle);
  }

  /**
   * Runs `fn` through the queue without a transaction (sAsync's
   * deferToQueue); cold and awaitable, like a transaction.
   */
  run<R>(fn: () => WorkResult<R>, options?: TransactOptions): Awaitable<NoInfer<R>> {
    checkTransactOptions(options);
    return runInQueue(this.#db, this.#submitter, this.#lifecycle, fn, options ?? {});
  }

  /**
   * The rows of a query as a {@link RowStream}: cold, read in batches of
   * `batchSize` only as fast as they are consumed, on a connection of the
   * stream's own (or, inside a transaction, on that transaction's). Takes raw
   * SQL with the driver's placeholders, or a TypeORM SelectQueryBuilder.
   * Streams still open when the broker shuts down fail with BrokerClosedError.
   * A bound value a driver would change fails the stream with
   * InvalidParameterError before it takes a connection.
   *
   * Raw SQL has no entity: its rows are typed `ObjectLiteral` unless you
   * name a row type, `stream<{ name: string }>(sql)`, which is your
   * assertion, not checked.
   *
   * On a replicated target a stream (of raw SQL or of a QueryBuilder) reads
   * on a replica, as `query()` of a read does (see {@link query}): one that
   * has replayed this process's commits through the primary (and `after`),
   * else the primary after `maxReplicaWait`; `{ route: 'primary' }` forces
   * the primary, and inside a transaction a stream is part of it, where it
   * is. A replica that fails before the first row was read hands the stream
   * to the primary; after that, the failure is the stream's error.
   * @throws RangeError or TypeError at once for bad options (`entities: true` with raw SQL among them).
   */
  stream<T = ObjectLiteral>(
    sql: string,
    parameters?: readonly unknown[],
    options?: StreamOptions & ReplicaReadOptions,
  ): RowStream<T>;
  /**
   * The entities of a QueryBuilder's main alias (`entities: true`), typed
   * from the QueryBuilder: hydrated by TypeORM as `getMany()` does, joined
   * relations and `afterLoad` included, a batch at a time. A join that gives
   * an entity several rows (a to-many relation) needs an order by the main
   * alias's primary key first, or no order (then the stream orders by it).
   * @throws TypeError at once for a QueryBuilder on a table name rather than
   *   an entity, an order that would split an entity, or what would need
   *   more queries (relation ids or counts, skip/take over joins).
   *
   * ```ts
   * for await (const note of broker.stream(notes.createQueryBuilder('n'), { entities: true })) note.title;
   * ```
   */
  stream<E extends ObjectLiteral>(
    query: SelectQueryBuilder<E>,
    options: QueryBuilderStreamOptions & ReplicaReadOptions & { readonly entities: true },
  ): RowStream<E>;
  /**
   * A QueryBuilder's raw rows, with TypeORM's column aliases (`n_id`,
   * `n_title`), typed as such (`ObjectLiteral`), not as its entity. A
   * QueryBuilder brings its own parameters: the second argument is the options.
   */
  stream<E extends ObjectLiteral>(
    query: SelectQueryBuilder<E>,
    options?: QueryBuilderStreamOptions & ReplicaReadOptions & { readonly entities?: false },
  ): RowStream<ObjectLiteral>;
  /** Entities or raw rows, as `entities` says when it is only known to be a boolean. */
  stream<E extends ObjectLiteral>(
    query: SelectQueryBuilder<E>,
    options?: QueryBuilderStreamOptions & ReplicaReadOptions,
  ): RowStream<E> | RowStream<ObjectLiteral>;
  stream<T extends ObjectLiteral>(
    query: string | SelectQueryBuilder<T>,
    second?: readonly unknown[] | (QueryBuilderStreamOptions & ReplicaReadOptions),
    third?: StreamOptions & ReplicaReadOptions,
  ): RowStream<T> | RowStream<ObjectLiteral> {
    if (typeof query === 'string') {
      if (this.#router) return this.#router.stream<T>(query, second as unknown[], third);
      return queryStream<T>(this.#db, this.#lifecycle, query, second as unknown[], third);
    }
    if (Array.isArray(second) || third !== undefined) {
      throw new TypeError('a QueryBuilder brings its own parameters: call stream(queryBuilder, options)');
    }
    const options = second as (QueryBuilderStreamOptions & ReplicaReadOptions) | undefined;
    if (this.#router) return this.#router.streamQueryBuilder(query, options);
    return queryBuilderStream(this.#db, this.#lifecycle, query, options);
  }

  /**
   * A query whose result stays true: on subscription it runs the query and
   * emits its rows; afterwards, whenever a committed change (this process's,
   * another's, or on postgres any writer's) touches a table it reads, it
   * runs it again and emits only if the rows changed, with a diff by `key`
   * against the previous emission. The tables are found by the database
   * (its plan), joins, subqueries and views included, or given as `tables`.
   * Re-runs are throttled (`throttle`, default 30 ms: a burst of commits is
   * one re-run) and queued at the options' priority, so an urgent UI query
   * overtakes nice bulk work. Cold: each subscription runs its own.
   * It completes on unsubscribe, `signal` and the broker's shutdown; it
   * errors with LiveQueryError for a statement that writes, a query over no
   * table, or a key that is not unique in a result, and with the error of a
   * run that failed.
   * @throws TypeError or RangeError at once for bad arguments (a throttle out of 0…60,000 ms among them).
   *
   * ```ts
   * broker.live<{ url: string; hits: number }>(
   *   'SELECT url, count(*) AS hits FROM entries GROUP BY url ORDER BY hits DESC LIMIT 10', [], { key: 'url' },
   * ).subscribe(({ rows, diff }) => render(rows, diff));
   * ```
   */
  live<T = ObjectLiteral>(
    sql: string,
    parameters?: readonly unknown[],
    options?: LiveOptions<T>,
  ): Observable<LiveResult<T>>;
  /** The raw rows of a QueryBuilder (TypeORM's column aliases, as `stream(queryBuilder)` gives them), live. */
  live<E extends ObjectLiteral>(
    query: SelectQueryBuilder<E>,
    options?: LiveOptions<ObjectLiteral>,
  ): Observable<LiveResult<ObjectLiteral>>;
  live<T>(
    query: string | SelectQueryBuilder<ObjectLiteral>,
    second?: readonly unknown[] | LiveOptions<T>,
    third?: LiveOptions<T>,
  ): Observable<LiveResult<T>> {
    return brokerLive<T>(this, this.#db, this.#lifecycle, query, second, third);
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
   * Awaitable: `const rows = await broker.query(sql)` runs it once.
   * (`NoInfer`, here and in transact() and run(): the row type comes from
   * the call, never from where the result goes, so that
   * `lastValueFrom(broker.query(sql))` keeps it.)
   *
   * On a replicated target ({@link ReplicatedTarget}) a statement that surely
   * only reads (one SELECT, WITH, VALUES or TABLE that neither writes nor
   * locks) runs on a replica that has replayed every commit made through the
   * primary in this process before the call (and what `after` stands for),
   * else on the primary after `maxReplicaWait`; everything else, and
   * `{ route: 'primary' }`, on the primary. A read a replica cannot take
   * (its connection lost, or it refuses the statement) runs on the primary.
   */
  query<T = ObjectLiteral>(
    sql: string,
    parameters?: readonly unknown[],
    options?: TransactOptions,
  ): Awaitable<NoInfer<T>[]> {
    if (this.#router) return this.#router.query<T>(sql, parameters, options);
    return this.#statements.query<T>(sql, parameters, options);
  }

  /**
   * A statement compiled once and run again with new parameters (sAsync's
   * `s()`): on postgres a named server-side prepared statement (parsed once
   * per connection), on sqlite a cached statement. The same name with the
   * same SQL returns the same Prepared; with other SQL it throws. On a
   * replicated target, a prepared read runs on a replica as `query()`'s do.
   * @throws InvalidIdentifierError for a bad name or a name reused for other SQL.
   */
  prepare<T = ObjectLiteral>(name: string, sql: string): Prepared<T> {
    if (this.#router) return this.#router.prepare<T>(name, sql);
    return this.#statements.prepare<T>(name, sql);
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
   * hot one must replay). Awaitable like every queued call: `await` gives the
   * last key (undefined for no values); `toArray()` gives them all.
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
  ): Awaitable<unknown> {
    const { concurrency = 8, ...transact } = options;
    checkConcurrency(concurrency);
    checkTransactOptions(transact);
    const work = produceRowsWork(this.#db.dialect, { f, values, table, column, constants, concurrency });
    return this.#submitter.transaction(work, transact, transact.name ?? 'produceRows');
  }

  /**
   * Resolves when the work this broker took has finished, including the
   * rollback of work that was cancelled (other brokers' work does not count).
   */
  drain(): Promise<void> {
    return this.#lifecycle.drain();
  }

  /** @internal The change bus, for live queries (see store-access.ts). */
  [busAccess](options: BusOptions): Promise<ChangeBus> {
    return this.#db.bus(options);
  }

  /**
   * @internal What the stores need (see store-access.ts). The broker keeps
   * its routing: the stores send their reads to the primary themselves
   * (`route: 'primary'`; their writes are transactions, on the primary).
   */
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
    // events$ ends once nothing more can happen.
    return (this.#shutdown ??= this.#lifecycle
      .shutdown()
      .finally(() => this.#router?.release())
      .finally(() => this.#submitter.events.complete()));
  }

  /**
   * {@link shutdown}, for `await using broker = new AccessBroker(target)`:
   * the broker is shut down when the block is left, however it is left.
   */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** startup(), then first() as the first transaction (if the subclass has one): the lifecycle runs it as the start-up. */
  async #startUp(): Promise<void> {
    // Before anything commits: the replicas checked, and the primary's commit positions tracked.
    await this.#router?.open();
    if (this.#migrateAtStart) await this.migrate();
    await this.startup();
    if (this.first === AccessBroker.prototype.first) return;
    const first = this.#submitter.transaction((tx) => this.first(tx), { doNext: true }, 'first', { internal: true });
    await lastValueFrom(first, { defaultValue: undefined });
  }
}
