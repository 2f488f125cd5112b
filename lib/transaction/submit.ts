import { AsyncResource } from 'node:async_hooks';
import { Observable, type Subscriber, type Subscription, type TeardownLogic } from 'rxjs';
import type { SharedDatabase } from '../broker/registry';
import { CancelToken, UNSUBSCRIBED } from '../cancel';
import { scheduleChecked, type PriorityScheduler } from '../scheduler/priority-scheduler';
import { cancellation, type Cancellation } from './cancellation';
import { currentContext, endedError, outerContext } from './context';
import type { TransactOptions } from './options';
import { runJoined, runSavepoint, runTransaction, type TransactionSpec, type Work } from './run-transaction';
import { currentRun, SlotHolder } from './slot';

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

/** How work is submitted: `internal` is the start-up's own; `autocommit` runs one statement without BEGIN. */
export interface Submitted {
  readonly internal?: boolean;
  readonly autocommit?: boolean;
}

/** A job for the queue: it watches `token`, emits values as it goes, and resolves with the rest. */
export type QueuedJob = (token: CancelToken, emit: (value: unknown) => void) => Promise<unknown[]>;

const PLAIN: Submitted = {};

/** Puts a broker's work on its database's queue, or into the transaction around the caller. */
export class Submitter {
  readonly #db: SharedDatabase;
  readonly #intake: Intake;

  constructor(db: SharedDatabase, intake: Intake) {
    this.#db = db;
    this.#intake = intake;
  }

  /**
   * A cold Observable of `work` in a transaction, per subscription: outside
   * any transaction a new one, queued; inside one on the same database, a
   * part of it (or, with `savepoint`, a SAVEPOINT in it), run at once since
   * the outer transaction holds the slot. Unsubscribing removes queued work,
   * or cancels running work (rolled back).
   */
  transaction(work: Work, options: TransactOptions, method: string | undefined, how = PLAIN): Observable<unknown> {
    return new Observable<unknown>((subscriber) => {
      const spec: TransactionSpec = {
        db: this.#db,
        work,
        options,
        method,
        parent: outerContext(),
        autocommit: how.autocommit ?? false,
      };
      const outer = currentContext(this.#db);
      if (!outer) {
        return this.queue(subscriber, options, method, how.internal ?? false, (token, emit) =>
          runTransaction({ ...spec, emit }, token),
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
   * Queues `job` for `subscriber`: after the start-up unless `internal`,
   * never after shutdown (the subscriber gets BrokerClosedError). Returns the
   * subscription's teardown.
   */
  queue(
    subscriber: Subscriber<unknown>,
    options: TransactOptions,
    method: string | undefined,
    internal: boolean,
    job: QueuedJob,
  ): TeardownLogic {
    let wait: Promise<void> | undefined;
    try {
      wait = this.#intake.take(internal);
    } catch (err) {
      subscriber.error(err);
      return undefined;
    }
    const submission = new Submission(this.#db, this.#intake, subscriber, options, method, job);
    if (wait)
      wait.then(
        () => submission.enqueue(),
        (err: unknown) => submission.fail(err),
      );
    else submission.enqueue();
    return () => submission.end();
  }
}

/**
 * One subscription's job, from its submission to its end. Results reach the
 * subscriber in the async context it subscribed from, never in that of
 * whatever transaction happened to start the job. Unsubscribing, the
 * caller's signal and the timeout all cancel through one token: while
 * queued the job is dropped, while running its token aborts.
 */
class Submission {
  readonly #db: SharedDatabase;
  readonly #intake: Intake;
  readonly #subscriber: Subscriber<unknown>;
  readonly #options: TransactOptions;
  readonly #job: QueuedJob;
  readonly #scope = new AsyncResource('sasync.work');
  readonly #token = new CancelToken();
  readonly #cancel: Cancellation;
  #queue: PriorityScheduler;
  #queued: Subscription | undefined;

  constructor(
    db: SharedDatabase,
    intake: Intake,
    subscriber: Subscriber<unknown>,
    options: TransactOptions,
    method: string | undefined,
    job: QueuedJob,
  ) {
    this.#db = db;
    this.#intake = intake;
    this.#subscriber = subscriber;
    this.#options = options;
    this.#job = job;
    this.#queue = db.scheduler;
    // The timeout counts from here: waiting for the start-up and the queue is part of it.
    this.#cancel = cancellation(options, options.name ?? method, this.#token, (reason) => subscriber.error(reason));
  }

  /** Queues the job: inside a run(), on the run's own queue. Not if the subscriber left meanwhile. */
  enqueue(): void {
    if (this.#subscriber.closed) return;
    const run = currentRun(this.#db);
    if (run) this.#queue = run.queue;
    // Options were checked when the caller called: not again per subscription.
    const queued = this.#queue
      [scheduleChecked](() => this.#run(), this.#options)
      .subscribe({
        next: (values) => this.#inScope(() => values.forEach((v) => this.#subscriber.next(v))),
        error: (err: unknown) => this.fail(err),
        complete: () => this.#inScope(() => this.#subscriber.complete()),
      });
    this.#cancel.onQueuedAbort(() => queued.unsubscribe());
    this.#queued = queued;
  }

  /** Tells the subscriber, in its own scope, that the job failed (or could not be queued). */
  fail(err: unknown): void {
    this.#inScope(() => this.#subscriber.error(err));
  }

  /** The subscription's teardown (completed, failed or unsubscribed). */
  end(): void {
    this.#queued?.unsubscribe();
    this.#token.abort(UNSUBSCRIBED);
    this.#cancel.dispose();
    this.#intake.settled();
  }

  /**
   * The job in its slot, counted in flight until it settles (even if it
   * throws before returning its Promise: drain() would wait forever). Where
   * outside calls wait for the queue (sqlite), it is marked as holding its
   * slot, so that what it calls does not wait for itself.
   */
  #run(): Promise<unknown[]> {
    this.#intake.started();
    this.#cancel.started();
    let holder: SlotHolder | undefined;
    // One finally for both: a Promise and a microtask fewer per transaction.
    return this.#scope
      .runInAsyncScope(() => {
        if (!this.#db.gatesOutsideCalls) return attempt(() => this.#job(this.#token, this.#emit));
        holder = new SlotHolder(this.#queue);
        return holder.run(() => attempt(() => this.#job(this.#token, this.#emit)));
      })
      .finally(() => {
        holder?.end();
        this.#intake.settled();
      });
  }

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

/** Sends `result`'s values, then completion, or its failure, to `subscriber`. */
export function deliver(result: Promise<unknown[]>, subscriber: Subscriber<unknown>): void {
  result.then(
    (values) => {
      values.forEach((v) => subscriber.next(v));
      subscriber.complete();
    },
    (err: unknown) => subscriber.error(err),
  );
}
