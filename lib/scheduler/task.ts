import { from, isObservable, type ObservableInput, type Subscription, type Unsubscribable } from 'rxjs';
import type { HeapEntry } from './heap';
import { laneOf, priorityOf, type Lane, type PriorityOptions, type QueueKey } from './priority';

/**
 * A unit of work for the queue. A Promise-returning job keeps its slot until
 * the Promise settles, even after its subscriber unsubscribed (a transaction
 * must finish rolling back before the next one may use the connection); an
 * Observable job gives its slot back as soon as it is unsubscribed.
 */
export type Job<T> = () => ObservableInput<T>;

/**
 * A job that asked for a signal (`{ abortable: true }`): it aborts when the
 * job's subscriber unsubscribes while the job runs, so that the job can stop
 * what it started. Other jobs get none, and cost no AbortController.
 */
export type AbortableJob<T> = (signal: AbortSignal) => ObservableInput<T>;

/** Where a job sorts in the queue, and whether it wants a signal. */
export interface ScheduleOptions extends PriorityOptions {
  /** The job takes an AbortSignal (see {@link AbortableJob}); default false. */
  readonly abortable?: boolean;
}

/** What a task needs of its scheduler. */
export interface Slots {
  /** The task gave its slot back. */
  release(): void;
  /** The task left the queue before it started. */
  dequeue(task: Task<unknown>): void;
}

/**
 * Who hears a task's results: an RxJS Subscriber (a subscription to
 * `schedule()`), or sasync's own per-transaction observer. A task calls
 * `error` or `complete` once at most, and nothing after.
 */
export interface TaskObserver<T> {
  next(value: T): void;
  error(err: unknown): void;
  complete(): void;
}

type TaskState = 'queued' | 'running' | 'done';

/**
 * One subscription to a scheduled job: its place in the queue, then its run.
 * One object per task, no closures until it starts, so that 100,000 queued
 * tasks stay small.
 */
export class Task<T> implements HeapEntry, QueueKey, Unsubscribable {
  heapIndex = -1;
  readonly lane: Lane;
  readonly priority: number;
  #state: TaskState = 'queued';
  readonly #abortable: boolean;
  #controller: AbortController | undefined;
  #inner: Subscription | undefined;
  /** An Observable job: it gives its slot back when unsubscribed, even mid-subscribe. */
  #stoppable = false;

  constructor(
    private readonly slots: Slots,
    private readonly job: AbortableJob<T>,
    private readonly subscriber: TaskObserver<T>,
    readonly serial: number,
    options: ScheduleOptions | undefined,
  ) {
    this.lane = laneOf(options);
    this.priority = priorityOf(serial, options);
    this.#abortable = options?.abortable === true;
  }

  /** Runs the job; the scheduler has counted the slot as taken. */
  start(): void {
    this.#state = 'running';
    let input: ObservableInput<T>;
    try {
      if (this.#abortable) {
        this.#controller = new AbortController();
        input = this.job(this.#controller.signal);
      } else {
        input = (this.job as Job<T>)();
      }
    } catch (err) {
      this.#settle(undefined, err, true);
      return;
    }
    // An Observable that is also awaitable (a broker's Awaitable) runs as the Observable it is.
    if (!isObservable(input) && isPromiseLike(input)) {
      input.then(
        (value) => this.#settle(value, undefined, false, true),
        (err: unknown) => this.#settle(undefined, err, true),
      );
      return;
    }
    const subscriber = this.subscriber;
    this.#stoppable = true;
    const inner = (isObservable(input) ? input : from(input)).subscribe({
      next: (value) => subscriber.next(value),
      error: (err: unknown) => this.#settle(undefined, err, true),
      complete: () => this.#settle(undefined, undefined, false),
    });
    // The subscriber may have unsubscribed while the job was being subscribed
    // (take(1) on a synchronous value).
    if ((this.#state as TaskState) === 'done') inner.unsubscribe();
    else this.#inner = inner;
  }

  /** The subscriber's teardown: leave the queue, or abort the run (its signal, if it asked for one). */
  unsubscribe(): void {
    if (this.#state === 'queued') {
      this.#state = 'done';
      this.slots.dequeue(this as Task<unknown>);
    } else if (this.#state === 'running') {
      this.#controller?.abort();
      // A Promise job keeps its slot until it settles; an Observable job stops now.
      if (this.#stoppable) {
        this.#state = 'done';
        this.#inner?.unsubscribe();
        this.slots.release();
      }
    }
  }

  #settle(value: T | undefined, err: unknown, failed: boolean, hasValue = false): void {
    if (this.#state !== 'running') return;
    this.#state = 'done';
    this.#inner = undefined;
    // An observer that is not an RxJS Subscriber may throw: the slot is given back all the same.
    try {
      if (failed) this.subscriber.error(err);
      else {
        if (hasValue) this.subscriber.next(value as T);
        this.subscriber.complete();
      }
    } finally {
      this.slots.release();
    }
  }
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
