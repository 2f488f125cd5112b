import type { Subscriber, TeardownLogic } from 'rxjs';
import type { SharedDatabase } from '../broker/registry';
import { CancelToken, UNSUBSCRIBED } from '../cancel';
import { Awaitable } from './awaitable';
import { currentContext, endedError, outerContext } from './context';
import { EventHub } from './event-hub';
import type { WorkKind } from './events';
import type { TransactOptions } from './options';
import { runJoined, runSavepoint, runTransaction, type TransactionSpec, type Work } from './run-transaction';
import { Submission, type Intake, type QueuedJob, type Submitting } from './submission';

export { attempt, type Intake, type QueuedJob } from './submission';

/**
 * How work is submitted: `internal` is the start-up's own; `autocommit` runs
 * one statement without BEGIN; `kind` says what it is in its events
 * (`transaction` unless given).
 */
export interface Submitted {
  readonly internal?: boolean;
  readonly autocommit?: boolean;
  readonly kind?: WorkKind;
}

const PLAIN: Submitted = {};

/** Puts a broker's work on its database's queue, or into the transaction around the caller. */
export class Submitter {
  readonly #db: SharedDatabase;
  readonly #submitting: Submitting;
  /** The broker's events$: its queued work, step by step. */
  readonly events: EventHub;

  /**
   * @param broker the broker's name, for its events.
   * @param replica for a replica of a replicated target: the broker's
   *   events (its primary's Submitter's), where this one's runs go too, and
   *   the replica's index in the target's replicas, which they name.
   */
  constructor(
    db: SharedDatabase,
    intake: Intake,
    broker = 'AccessBroker',
    replica?: { readonly events: EventHub; readonly index: number },
  ) {
    this.#db = db;
    this.events = replica?.events ?? new EventHub(broker);
    this.#submitting = { db, intake, events: this.events, replica: replica?.index };
  }

  /**
   * A cold, awaitable Observable of `work` in a transaction, per
   * subscription: outside any transaction a new one, queued; inside one on
   * the same database, a part of it (or, with `savepoint`, a SAVEPOINT in
   * it), run at once since the outer transaction holds the slot (no events
   * of its own: it is part of the outer one). Unsubscribing removes queued
   * work, or cancels running work (rolled back).
   */
  transaction(work: Work, options: TransactOptions, method: string | undefined, how = PLAIN): Awaitable<unknown> {
    return new Awaitable<unknown>((subscriber) => {
      const parent = outerContext();
      const autocommit = how.autocommit ?? false;
      const outer = currentContext(this.#db);
      if (!outer) {
        // The spec is made when the job runs, with what the queue gives it: one object, not two.
        const db = this.#db;
        return this.queue(
          subscriber,
          options,
          method,
          how,
          (token, emit, retries, holder) =>
            runTransaction({ db, work, options, method, parent, autocommit, emit, retries, holder }, token),
          true,
        );
      }
      // Work that outlived its transaction must not start a new one in its place.
      if (!outer.open) return void subscriber.error(endedError());
      const spec: TransactionSpec = { db: this.#db, work, options, method, parent, autocommit };
      const token = new CancelToken();
      const result = options.savepoint ? runSavepoint(spec, outer, token) : runJoined(spec, outer);
      deliver(result, subscriber);
      return () => token.abort(UNSUBSCRIBED);
    });
  }

  /**
   * Queues `job` for `subscriber`: after the start-up unless `how.internal`,
   * never after shutdown (the subscriber gets BrokerClosedError, and no
   * event is sent: it was never queued). With `holdsInWork`, `job` runs
   * what it calls as the holder of its slot itself (see QueuedJob). Returns
   * the subscription's teardown.
   */
  queue(
    subscriber: Subscriber<unknown>,
    options: TransactOptions,
    method: string | undefined,
    how: Submitted,
    job: QueuedJob,
    holdsInWork = false,
  ): TeardownLogic {
    let wait: Promise<void> | undefined;
    try {
      wait = this.#submitting.intake.take(how.internal ?? false);
    } catch (err) {
      subscriber.error(err);
      return undefined;
    }
    const kind = how.kind ?? 'transaction';
    const submission = new Submission(this.#submitting, subscriber, options, method, kind, job, holdsInWork);
    if (wait)
      wait.then(
        () => submission.enqueue(),
        (err: unknown) => submission.fail(err),
      );
    else submission.enqueue();
    return () => submission.end();
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
