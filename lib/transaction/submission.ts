import { AsyncResource } from 'node:async_hooks';
import type { Subscriber, Unsubscribable } from 'rxjs';
import type { SharedDatabase } from '../broker/registry';
import { CancelToken, UNSUBSCRIBED } from '../cancel';
import { clock } from '../clock';
import { CancelledError } from '../errors';
import { enqueueChecked, type PriorityScheduler, type TaskObserver } from '../scheduler/priority-scheduler';
import { cancellation, type Cancellation } from './cancellation';
import { nextRunId, RUN_LINK, type EventHub, type LinkedOptions, type RunRecord } from './event-hub';
import type { WorkKind } from './events';
import type { TransactOptions } from './options';
import { currentRun, SlotHolder } from './slot';
import type { RetryListener } from './transaction-spec';

/** What submitting work needs from the broker's lifecycle (see Lifecycle). */
export interface Intake {
  /**
   * Takes a submission in and counts it in flight until {@link settled}:
   * returns undefined when it may queue now, or the start-up to wait for
   * first. `internal` work (the start-up's own) never waits for the start-up.
   * @throws BrokerClosedError once shut down (start-up work and work a
   *   run()'s function submits while shutdown waits for it aside).
   */
  take(internal: boolean): Promise<void> | undefined;
  /** A job started: counted in flight until {@link settled}, so that drain() waits for its cleanup too. */
  started(): void;
  settled(): void;
}

/**
 * A job for the queue: it watches `token`, emits values as it goes, tells
 * `retries` when it runs again, and resolves with the rest. Where outside
 * calls wait for the queue (sqlite), a job that takes `holder` runs what it
 * calls as that holder itself (see {@link Submission}); other jobs run as it
 * whole.
 */
export type QueuedJob = (
  token: CancelToken,
  emit: (value: unknown) => void,
  retries: RetryListener,
  holder: SlotHolder | undefined,
) => Promise<unknown[]>;

/** Where a broker's jobs go: one per broker, shared by its submissions. */
export interface Submitting {
  readonly db: SharedDatabase;
  readonly intake: Intake;
  readonly events: EventHub;
  /** On a replica of a replicated target, its index in the target's replicas (for the events). */
  readonly replica?: number;
}

/**
 * One subscription's job, from its submission to its end. Results reach the
 * subscriber in the async context it subscribed from, never in that of
 * whatever transaction happened to start the job. Unsubscribing, the
 * caller's signal and the timeout all cancel through one token: while
 * queued the job is dropped, while running its token aborts. It tells the
 * broker's events$ where it is (its fields are the {@link RunRecord}); each
 * event goes out before the subscriber hears of the same step. It hears its
 * job's outcome from the queue itself ({@link TaskObserver}): no Observable
 * and Subscriber in between.
 */
export class Submission implements RunRecord, RetryListener, TaskObserver<unknown[]> {
  readonly id = nextRunId();
  readonly queuedAt = clock.now();
  readonly method: string;
  readonly kind: WorkKind;
  startedAt: number | undefined;
  attempts = 0;
  readonly replica: number | undefined;
  readonly fallbackOf: number | undefined;
  readonly #db: SharedDatabase;
  readonly #intake: Intake;
  readonly #events: EventHub;
  readonly #subscriber: Subscriber<unknown>;
  readonly #job: QueuedJob;
  readonly #holdsInWork: boolean;
  readonly #scope = new AsyncResource('sasync.work');
  readonly #token = new CancelToken();
  readonly #cancel: Cancellation;
  #queue: PriorityScheduler;
  #queued: Unsubscribable | undefined;
  /** Its outcome event was sent (committed, rolled back or cancelled). */
  #ended = false;
  /** The job is running (from #run until its Promise settles), and the holder of its slot (sqlite). */
  #running = false;
  #holder: SlotHolder | undefined;

  constructor(
    how: Submitting,
    subscriber: Subscriber<unknown>,
    readonly options: TransactOptions,
    method: string | undefined,
    kind: WorkKind,
    job: QueuedJob,
    /** The job runs what it calls as the holder it is given (see {@link QueuedJob}). */
    holdsInWork = false,
  ) {
    this.#holdsInWork = holdsInWork;
    this.#db = how.db;
    this.method = options.name ?? method ?? 'transact';
    this.kind = kind;
    this.replica = how.replica;
    const link = (options as LinkedOptions)[RUN_LINK];
    this.fallbackOf = link?.fallbackOf;
    link?.onRun?.(this.id);
    this.#intake = how.intake;
    this.#events = how.events;
    this.#subscriber = subscriber;
    this.#job = job;
    this.#queue = how.db.scheduler;
    this.#events.queued(this);
    // The timeout counts from here: waiting for the start-up and the queue is part of it.
    this.#cancel = cancellation(options, options.name ?? method, this.#token, (reason) => this.#cancelled(reason));
  }

  /** Queues the job: inside a run(), on the run's own queue. Not if the subscriber left meanwhile. */
  enqueue(): void {
    if (this.#subscriber.closed) return;
    const run = currentRun(this.#db);
    if (run) this.#queue = run.queue;
    // Options were checked when the caller called: not again per subscription.
    const queued = this.#queue[enqueueChecked](this.#start, this.options, this);
    this.#cancel.onQueuedAbort(() => queued.unsubscribe());
    this.#queued = queued;
  }

  /** What the job committed with, delivered with its completion (one trip into the subscriber's scope). */
  #values: unknown[] | undefined;

  /** From the queue: the job committed with `values` (complete() follows at once). */
  next(values: unknown[]): void {
    this.#jobSettled();
    this.#end()?.committed(this);
    this.#values = values;
  }

  /** From the queue: the job failed. */
  error(err: unknown): void {
    this.#jobSettled();
    this.fail(err);
  }

  /** From the queue: the job is done. The subscriber hears its values, then its completion. */
  complete(): void {
    this.#inScope(this.#deliver);
  }

  readonly #deliver = (): void => {
    const values = this.#values ?? [];
    this.#values = undefined;
    for (const v of values) this.#subscriber.next(v);
    this.#subscriber.complete();
  };

  /** Tells the subscriber, in its own scope, that the job failed (or could not be queued). */
  fail(err: unknown): void {
    const events = this.#end();
    if (err instanceof CancelledError && this.#token.aborted) events?.cancelled(this, err);
    else events?.rolledBack(this, err);
    this.#inScope(() => this.#subscriber.error(err));
  }

  /** The subscription's teardown (completed, failed or unsubscribed). */
  end(): void {
    // Ended with no outcome yet: the subscriber left.
    this.#end()?.cancelled(this, undefined);
    this.#queued?.unsubscribe();
    this.#token.abort(UNSUBSCRIBED);
    this.#cancel.dispose();
    this.#intake.settled();
  }

  /** See RetryListener: attempt `attempt` failed with `error` and the job runs again. */
  retried(attempt: number, error: unknown): void {
    this.attempts = attempt + 1;
    this.#events.retried(this, attempt, error);
  }

  /** Cancelled by its timeout or signal: the caller hears at once, while a running job rolls back. */
  #cancelled(error: Error): void {
    this.#end()?.cancelled(this, error as CancelledError);
    this.#subscriber.error(error);
  }

  /** The events, the first time it ends (for its one outcome event); undefined after. */
  #end(): EventHub | undefined {
    if (this.#ended) return undefined;
    this.#ended = true;
    return this.#events;
  }

  /**
   * The job in its slot, counted in flight until it settles (even if it
   * throws before returning its Promise: drain() would wait forever). Where
   * outside calls wait for the queue (sqlite), it is marked as holding its
   * slot, so that what it calls does not wait for itself: the whole job, or,
   * for a job that marks its own work (a transaction) on a DataSource
   * without subscribers, only that work, so that its BEGIN, COMMIT and
   * release run without the async context's promise hooks.
   */
  #run(): Promise<unknown[]> {
    this.#intake.started();
    // The queue tells this submission when the job's Promise settles (next or error), or that it
    // threw: its end is counted there (#jobSettled), with no then() of its own.
    this.#running = true;
    this.#cancel.started();
    this.startedAt = clock.now();
    this.attempts = 1;
    this.#events.started(this);
    return this.#scope.runInAsyncScope(() => {
      if (!this.#db.gatesOutsideCalls) return attempt(() => this.#job(this.#token, this.#emit, this, undefined));
      const held = (this.#holder = new SlotHolder(this.#queue));
      // A job that marks its own work keeps the async context (and its
      // promise hooks) off for the rest: its BEGIN, COMMIT and release.
      // Not with TypeORM subscribers: TypeORM calls them inside BEGIN,
      // COMMIT and ROLLBACK, and what they call there must not wait for
      // the slot this job holds.
      if (this.#holdsInWork && this.#db.dataSource.subscribers.length === 0)
        return attempt(() => this.#job(this.#token, this.#emit, this, held));
      return held.run(() => attempt(() => this.#job(this.#token, this.#emit, this, undefined)));
    });
  }

  /**
   * The job's Promise settled (the queue calls next or error): it no longer
   * holds its slot, and is no longer counted in flight. Before the queue
   * gives the slot back, and before the subscriber hears.
   */
  #jobSettled(): void {
    if (!this.#running) return;
    this.#running = false;
    this.#holder?.end();
    this.#holder = undefined;
    this.#intake.settled();
  }

  readonly #start = (): Promise<unknown[]> => this.#run();

  readonly #emit = (value: unknown): void => this.#inScope(() => this.#subscriber.next(value));

  #inScope(fn: () => void): void {
    this.#scope.runInAsyncScope(fn);
  }
}

/** What `fn` returns, or a rejected Promise if it throws instead of returning one. */
export function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}
