import type { Observable } from 'rxjs';
import type { CancelToken } from '../cancel';
import type { CancelledError } from '../errors';
import { PriorityScheduler } from '../scheduler/priority-scheduler';
import { Awaitable } from '../transaction/awaitable';
import { cancelledError, reasonText } from '../transaction/cancelled';
import { currentContext, endedError } from '../transaction/context';
import type { TransactOptions } from '../transaction/options';
import { collect } from '../transaction/run-transaction';
import { runInScope } from '../transaction/slot';
import { attempt, deliver, type Submitted, type Submitter } from '../transaction/submit';
import type { SharedDatabase } from './registry';

/** What run() (and transaction work) may return: a value, a Promise of one, or an Observable of several. */
export type WorkResult<R> = Observable<R> | PromiseLike<R> | R;

/**
 * `fn` through the queue without a transaction (sAsync's deferToQueue), as a
 * cold {@link Awaitable} (awaiting it runs it once and gives its last value): each subscription waits for a slot of the shared queue,
 * calls `fn` and emits what it produced. Inside a transaction it runs at once
 * (the caller holds the slot already). Work `fn` submits goes to a queue of
 * the run's own, which `owner` (the broker's lifecycle) lets through while
 * shutdown waits for the run. Cancelled (timeout, signal, unsubscribe), it
 * fails at once with CancelledError or TimeoutError, while `fn`, which
 * nothing can stop, runs on to its end holding its slot.
 */
export function runInQueue<R>(
  db: SharedDatabase,
  submitter: Submitter,
  owner: object,
  fn: () => WorkResult<R>,
  options: TransactOptions,
): Awaitable<R> {
  return new Awaitable<unknown>((subscriber) => {
    const outer = currentContext(db);
    // Inside a transaction the queue slot is already this caller's: queuing
    // again would wait for itself on sqlite.
    if (outer)
      return void deliver(outer.open ? attempt(() => collect(fn())) : Promise.reject(endedError()), subscriber);
    const method = options.name ?? 'run';
    return submitter.queue(subscriber, options, 'run', RUN, (token) => {
      // Work that fn submits must not wait for the slot fn itself holds: it
      // queues on a queue of its own, as many at once as the shared one allows.
      const queue = new PriorityScheduler(db.scheduler.concurrency);
      const result = runInScope({ db, queue, owner, live: true }, () => attempt(() => collect(fn())));
      return heedCancellation(result, token, method);
    });
  }) as Awaitable<R>;
}

const RUN: Submitted = { kind: 'run' };

/**
 * A run()'s result, unless it is cancelled first: then the caller is told at
 * once, while the function runs on to its end holding its place in the
 * queue, and what it returns is dropped.
 */
function heedCancellation(result: Promise<unknown[]>, token: CancelToken, method: string): Promise<unknown[]> {
  const stop = token.onAbort(() => void token.report(cancelled(token, method)));
  return result
    .then(
      (values) => {
        if (token.aborted) throw cancelled(token, method);
        return values;
      },
      (err: unknown) => {
        throw token.aborted ? cancelled(token, method) : err;
      },
    )
    .finally(stop);
}

function cancelled(token: CancelToken, method: string): CancelledError {
  return cancelledError(
    `${method} was cancelled: ${reasonText(token.reason)}. Its function cannot be stopped from outside: it runs on ` +
      'to its end (holding its place in the queue), and what it returns is dropped',
    token.reason,
    { method },
  );
}
