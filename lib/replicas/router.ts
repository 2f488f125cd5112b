import { Subscription, type Observable, type Subscriber } from 'rxjs';
import { CancelToken, UNSUBSCRIBED } from '../cancel';
import { clock } from '../clock';
import type { ObjectLiteral } from 'typeorm';
import type { Lifecycle } from '../broker/lifecycle';
import { acquireDatabase, type SharedDatabase } from '../broker/registry';
import type { Prepared } from '../broker/prepared';
import { Statements } from '../broker/statements';
import { replicationOf, type DialectReplication } from '../dialect/replicas';
import type { QueryBuilderStreamOptions, StreamOptions } from '../rows/stream-options';
import type { RowStream } from '../rows/row-stream';
import { queryBuilderCursor, type QueryBuilderCursor } from '../rows/query-builder-stream';
import type { SelectQueryBuilder } from 'typeorm';
import type { ReplicaSettings, ResolvedTarget } from '../target';
import { Awaitable } from '../transaction/awaitable';
import { CALLED_AT, type CalledAtOptions } from '../transaction/cancellation';
import { cancelledError, reasonText, TimedOut } from '../transaction/cancelled';
import { currentContext } from '../transaction/context';
import { RUN_LINK, type LinkedOptions, type RunLink } from '../transaction/event-hub';
import { checkTransactOptions, type TransactOptions } from '../transaction/options';
import type { Work } from '../transaction/run-transaction';
import { Submitter } from '../transaction/submit';
import { acquirePositions, type CommitPositions } from './commit-positions';
import { readOnlyTransaction } from './read-only-work';
import { checkReplicaOptions, type ReplicaReadOptions } from './read-options';
import { fallsBack } from './replica-failure';
import { ReplicaChoice } from './replica-choice';
import { acquireNode, type ReplicaNode } from './replica-node';
import type { Member } from './member';
import { routedCursorStream, routedStream } from './routed-stream';

/**
 * A broker's routing on a replicated target: where each call runs, and the
 * run again on the primary when a replica could not take it. Transactions,
 * writes, prepared statements and the stores go to the primary (the
 * broker's own queue); `query()` of a read, `stream()` (of raw SQL or of a
 * QueryBuilder) and
 * `transact(work, { readOnly: true })` to a replica that has replayed every
 * commit made through the primary's DataSource in this process before the
 * call (and the commits a token stands for), else to the primary after
 * `maxReplicaWait`. Inside a transaction, everything joins it where it is.
 */
export class ReplicaRouter {
  readonly #primary: SharedDatabase;
  readonly #primaryStatements: Statements;
  readonly #primarySubmitter: Submitter;
  readonly #lifecycle: Lifecycle;
  readonly #replication: DialectReplication;
  readonly #members: readonly Member[];
  readonly #byNode = new Map<ReplicaNode, Member>();
  readonly #choice: ReplicaChoice;
  #positions: CommitPositions | undefined;
  /** The routed face of each of the broker's prepared statements. */
  readonly #prepared = new WeakMap<Prepared<unknown>, Prepared<unknown>>();
  #released: Promise<void> | undefined;

  constructor(
    primary: SharedDatabase,
    parts: { readonly statements: Statements; readonly submitter: Submitter; readonly lifecycle: Lifecycle },
    replicas: readonly ResolvedTarget[],
    settings: ReplicaSettings,
    name: string,
  ) {
    this.#primary = primary;
    this.#primaryStatements = parts.statements;
    this.#primarySubmitter = parts.submitter;
    this.#lifecycle = parts.lifecycle;
    const replication = replicationOf(primary.dialect.name);
    if (!replication) throw new TypeError(`no replication for database type ${primary.dialect.name}`);
    this.#replication = replication;
    this.#members = replicas.map((target, index) => {
      const db = acquireDatabase(target);
      // Its runs' events go to the broker's events$, naming the replica.
      const submitter = new Submitter(db, parts.lifecycle, name, { events: parts.submitter.events, index });
      const member = {
        node: acquireNode(db, replication),
        submitter,
        statements: new Statements(db, submitter, parts.lifecycle),
      };
      this.#byNode.set(member.node, member);
      return member;
    });
    this.#choice = new ReplicaChoice(
      this.#members.map((m) => m.node),
      settings.maxReplicaWait,
      settings.maxReplicaLag,
    );
  }

  /**
   * At the broker's start-up, the primary being open: tracks its commits'
   * positions, opens and checks every replica (one that cannot be reached
   * stays out of the rotation for now).
   * @throws DatabaseError for a replica that is not in recovery.
   */
  async open(): Promise<void> {
    this.#positions ??= acquirePositions(this.#primary, this.#replication);
    await Promise.all(this.#members.map((m) => m.node.start()));
  }

  /**
   * A token for the latest commit made through the primary's DataSource in
   * this process: reads given it as `after` (in any process) see that
   * commit. See AccessBroker.consistencyToken.
   */
  async consistencyToken(): Promise<string> {
    const position = this.#positions ? await this.#positions.settled() : 0n;
    return this.#replication.formatPosition(position);
  }

  /** See AccessBroker.query. */
  query<T>(
    sql: string,
    parameters: readonly unknown[] | undefined,
    options: TransactOptions | undefined,
  ): Awaitable<T[]> {
    checkTransactOptions(options);
    const opts = options ?? {};
    const read = this.#replication.isRead(sql);
    return this.#routed<T[]>(opts, read, opts.name ?? 'query', (member, routed, refused) => {
      if (member) return member.statements.query<T>(sql, parameters, routed);
      // Refused on a replica, it writes after all: in a transaction on the primary, whose COMMIT's position is known.
      const primary = refused ? { ...routed, isolation: routed.isolation ?? 'READ COMMITTED' } : routed;
      return this.#primaryStatements.query<T>(sql, parameters, primary);
    });
  }

  /**
   * See AccessBroker.prepare: the broker's Prepared on the primary (the same
   * name checks), whose reads run on a replica (prepared there too, per
   * connection) as `query()`'s do.
   * @throws InvalidIdentifierError for a bad name or a name reused for other SQL.
   */
  prepare<T = ObjectLiteral>(name: string, sql: string): Prepared<T> {
    const primary = this.#primaryStatements.prepare<T>(name, sql);
    const known = this.#prepared.get(primary);
    if (known) return known as Prepared<T>;
    const read = this.#replication.isRead(sql);
    const routed: Prepared<T> = {
      name,
      sql,
      query: (parameters, options) => {
        checkTransactOptions(options);
        const opts = options ?? {};
        return this.#routed<T[]>(opts, read, opts.name ?? name, (member, routed, refused) => {
          if (member) return member.statements.prepare<T>(name, sql).query(parameters, routed);
          return primary.query(
            parameters,
            refused ? { ...routed, isolation: routed.isolation ?? 'READ COMMITTED' } : routed,
          );
        });
      },
      stream: (parameters, options) => this.stream<T>(sql, parameters, options),
    };
    this.#prepared.set(primary, routed as Prepared<unknown>);
    return routed;
  }

  /** `transact(work, { readOnly: true })`: on a replica, in a read-only transaction. */
  readOnly(work: Work, options: TransactOptions, method: string | undefined): Awaitable<unknown> {
    return this.#routed<unknown>(options, true, options.name ?? method ?? 'transact', (member, routed) =>
      member
        ? readOnlyTransaction(member.node.db, member.submitter, work, routed, method)
        : readOnlyTransaction(this.#primary, this.#primarySubmitter, work, routed, method),
    );
  }

  /** See AccessBroker.stream (raw SQL). */
  stream<T = ObjectLiteral>(
    sql: string,
    parameters: readonly unknown[] | undefined,
    options: (StreamOptions & ReplicaReadOptions) | undefined,
  ): RowStream<T> {
    checkReplicaOptions(options ?? {});
    return routedStream<T>({
      primary: this.#primary,
      gate: this.#lifecycle,
      sql,
      parameters,
      options,
      choose: (cancel) => this.#choose(options ?? {}, true, cancel),
      // Inside a transaction the stream is part of it: it never moves elsewhere.
      fallsBack: (member, err) => (this.#inTransaction() ? undefined : this.#fallsBack(member, err)),
    });
  }

  /**
   * See AccessBroker.stream (a QueryBuilder): routed as a raw SQL stream
   * (a QueryBuilder's select is a read). Its SQL and parameters are built
   * once from the QueryBuilder, on the primary's metadata, and its rows,
   * read on a replica or the primary, are hydrated with that metadata (see
   * queryBuilderCursor for where `afterLoad` subscribers run).
   */
  streamQueryBuilder<E extends ObjectLiteral>(
    qb: SelectQueryBuilder<E>,
    options: (QueryBuilderStreamOptions & ReplicaReadOptions) | undefined,
  ): RowStream<E> | RowStream<ObjectLiteral> {
    checkReplicaOptions(options ?? {});
    const built = queryBuilderCursor(qb, options) as QueryBuilderCursor<E>;
    return routedCursorStream<E, ObjectLiteral>({
      primary: this.#primary,
      gate: this.#lifecycle,
      sql: built.sql,
      parameters: built.parameters,
      options: built.options,
      perSubscription: (db, replica) => built.perSubscription(db, replica),
      choose: (cancel) => this.#choose(options ?? {}, true, cancel),
      fallsBack: (member, err) => (this.#inTransaction() ? undefined : this.#fallsBack(member, err)),
    });
  }

  /** Gives back the replicas' databases and shared state (after the broker's work is done). */
  release(): Promise<void> {
    this.#released ??= (async () => {
      this.#positions?.release();
      await Promise.all(this.#members.map(async (m) => Promise.all([m.node.release(), m.node.db.release()])));
    })();
    return this.#released;
  }

  /**
   * Where a call runs: inside a transaction, where that transaction is;
   * `route: 'primary'`, or a statement that may write, on the primary;
   * else on a replica that has replayed what it must see, if one has within
   * `maxReplicaWait`.
   */
  #choose(
    options: ReplicaReadOptions,
    read: boolean,
    cancel?: CancelToken,
  ): Member | undefined | Promise<Member | undefined> {
    if (currentContext(this.#primary)) return undefined;
    // `route: 'primary'` is the primary, even inside read-only work on a replica: the stores' and the change
    // log's reads say it, and a replica's snapshot behind the log's position would hide changes from them.
    if (options.route === 'primary') return undefined;
    for (const member of this.#members) if (currentContext(member.node.db)) return member;
    return this.#chooseOutside(options, read, cancel);
  }

  /** Whether the caller is inside a transaction of this broker's databases (a call then joins it, where it is). */
  #inTransaction(): boolean {
    return currentContext(this.#primary) !== undefined || this.#members.some((m) => currentContext(m.node.db));
  }

  /** See #choose; a wait ends when `cancel` aborts (on the primary then, though nobody runs it). */
  #chooseOutside(
    options: ReplicaReadOptions,
    read: boolean,
    cancel?: CancelToken,
  ): Member | undefined | Promise<Member | undefined> {
    if (options.route === 'primary' || this.#members.length === 0) return undefined;
    if (!read && options.route !== 'replica') return undefined;
    // Before the start-up has checked the replicas and begun tracking commits, nothing is known: after it.
    if (!this.#positions) {
      if (this.#lifecycle.inStartUp) return undefined;
      return this.#lifecycle
        .admitStream()
        .then(() => (this.#positions && !cancel?.aborted ? this.#chooseOutside(options, read, cancel) : undefined));
    }
    const after = options.after === undefined ? undefined : this.#replication.parsePosition(options.after);
    const required = this.#positions?.required(after);
    if (required === undefined) return undefined;
    if (typeof required === 'bigint') return this.#member(this.#choice.choose(required, cancel));
    return required.then((r) => (r === undefined ? undefined : this.#member(this.#choice.choose(r, cancel))));
  }

  #member(
    node: ReplicaNode | undefined | Promise<ReplicaNode | undefined>,
  ): Member | undefined | Promise<Member | undefined> {
    if (node instanceof Promise) return node.then((n) => n && this.#byNode.get(n));
    return node && this.#byNode.get(node);
  }

  /** Whether a call that failed on `member` runs again on the primary, and why (see fallsBack). */
  #fallsBack(member: Member, err: unknown): 'lost' | 'refused' | undefined {
    return fallsBack(member.node, this.#replication, err);
  }

  /**
   * Runs `call` where #choose says, per subscription; a call that fails on a
   * replica for a reason the primary would not have (its connection, a
   * write it refused) runs again on the primary, if it had emitted nothing
   * and was not part of a transaction there (a read-only transaction's
   * write fails it, as it would on the primary). `call` gets the options to
   * run with: the caller's, with the subscription's time (its `timeout`
   * counts from then: the wait for a replica is part of it) and, on the
   * primary after a replica, the failed run's id for the events
   * (TransactionEventBase.fallbackOf). The caller's `timeout` or `signal`
   * during the wait for a replica ends the wait at once (no timer or poll of
   * its own left) and fails the call with a TimeoutError or CancelledError
   * named `method`: nothing ran, and no event was sent (it was never queued).
   */
  #routed<R>(
    options: TransactOptions,
    read: boolean,
    method: string,
    call: (member: Member | undefined, routed: TransactOptions, refused?: boolean) => Observable<R>,
  ): Awaitable<R> {
    return new Awaitable<R>((subscriber) => {
      const subscription = new Subscription();
      const calledAt = options.timeout === undefined ? undefined : clock.now();
      const routed = (link?: RunLink): TransactOptions => {
        if (calledAt === undefined && link === undefined) return options;
        const marked: TransactOptions & CalledAtOptions & LinkedOptions = {
          ...options,
          [CALLED_AT]: calledAt,
          [RUN_LINK]: link,
        };
        return marked;
      };
      const run = (member: Member | undefined, refused = false, fallbackOf?: number) => {
        if (subscription.closed) return;
        if (!member) {
          const link = fallbackOf === undefined ? undefined : { fallbackOf };
          return void subscription.add(call(undefined, routed(link), refused).subscribe(subscriber));
        }
        if (joined) return void subscription.add(call(member, options).subscribe(subscriber));
        let runId: number | undefined;
        const onReplica = routed({ onRun: (id) => (runId = id) });
        subscription.add(
          this.#onReplica(
            member,
            (m) => call(m, onReplica),
            subscriber,
            (why) => run(undefined, why === 'refused', runId),
          ),
        );
      };
      const joined = options.route !== 'primary' && this.#inTransaction();
      const wait = new CancelToken();
      let chosen: Member | undefined | Promise<Member | undefined>;
      try {
        chosen = this.#choose(options, read, wait);
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      if (!(chosen instanceof Promise)) {
        run(chosen);
        return subscription;
      }
      // Unsubscribed, its timeout or its signal: the wait ends there, and the timeout's timer and the
      // signal's listener go with it (the wait itself may settle only later).
      const unwatch = watchWait(options, method, wait, (error) => subscriber.error(error));
      subscription.add(() => {
        wait.abort(UNSUBSCRIBED);
        unwatch();
      });
      chosen.then(
        (member) => {
          unwatch();
          if (!wait.aborted) run(member);
        },
        (err: unknown) => {
          unwatch();
          if (!wait.aborted) subscriber.error(err);
        },
      );
      return subscription;
    });
  }

  #onReplica<R>(
    member: Member,
    call: (member: Member) => Observable<R>,
    subscriber: Subscriber<R>,
    onPrimary: (why: 'lost' | 'refused') => void,
  ): Subscription {
    const node = member.node;
    node.inflight++;
    let counted = true;
    const done = () => {
      if (counted) node.inflight--;
      counted = false;
    };
    let emitted = false;
    const inner = call(member).subscribe({
      next: (value) => {
        emitted = true;
        subscriber.next(value);
      },
      complete: () => {
        done();
        subscriber.complete();
      },
      error: (err: unknown) => {
        done();
        const why = emitted ? undefined : this.#fallsBack(member, err);
        if (why) onPrimary(why);
        else subscriber.error(err);
      },
    });
    inner.add(done);
    return inner;
  }
}

/**
 * Ends the wait for a replica (aborts `wait`) at the call's `timeout`
 * (counted from now) or when its `signal` aborts, and tells `fail` the
 * call's error: a TimeoutError (its `timeout` the caller's) or a
 * CancelledError. Returns the removal of the timer and the listener.
 */
function watchWait(
  options: TransactOptions,
  method: string,
  wait: CancelToken,
  fail: (error: Error) => void,
): () => void {
  const { timeout, signal } = options;
  if (timeout === undefined && signal === undefined) return () => undefined;
  const watched = new CancelToken();
  watched.onAbort((reason) => {
    if (wait.aborted) return;
    wait.abort(reason);
    fail(
      cancelledError(
        `${method} was cancelled while it waited for a replica to replay the commits it must see, before it ran ` +
          `anywhere: ${reasonText(reason)}`,
        reason,
        { method },
      ),
    );
  });
  const unfollow = watched.follow(signal);
  const timer =
    timeout === undefined || watched.aborted
      ? undefined
      : clock.setTimeout(() => watched.abort(new TimedOut(timeout)), timeout);
  return () => {
    if (timer !== undefined) clock.clearTimeout(timer);
    unfollow();
  };
}
