import {
  from,
  isObservable,
  type ObservableInput,
  type Subscriber,
  type Subscription,
  type Unsubscribable,
} from 'rxjs';
import type { HeapEntry } from './heap';
import { laneOf, priorityOf, type Lane, type PriorityOptions, type QueueKey } from './priority';

/**
 * A unit of work for the queue. It gets a signal that aborts when its
 * subscriber unsubscribes while it runs. A Promise-returning job keeps its
 * slot until the Promise settles, even after an abort (a transaction must
 * finish rolling back before the next one may use the connection); an
 * Observable job gives its slot back as soon as it is unsubscribed. A job
 * that declares no parameter gets no signal (and costs no AbortController).
 */
export type Job<T> = (signal: AbortSignal) => ObservableInput<T>;

/** What a task needs of its scheduler. */
export interface Slots {
  /** The task gave its slot back. */
  release(): void;
  /** The task left the queue before it started. */
  dequeue(task: Task<unknown>): void;
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
  #controller: AbortController | undefined;
  #inner: Subscription | undefined;
  /** An Observable job: it gives its slot back when unsubscribed, even mid-subscribe. */
  #stoppable = false;

  constructor(
    private readonly slots: Slots,
    private readonly job: Job<T>,
    private readonly subscriber: Subscriber<T>,
    readonly serial: number,
    options: PriorityOptions | undefined,
  ) {
    this.lane = laneOf(options);
    this.priority = priorityOf(serial, options);
  }

  /** Runs the job; the scheduler has counted the slot as taken. */
  start(): void {
    this.#state = 'running';
    let input: ObservableInput<T>;
    try {
      if (this.job.length > 0) {
        this.#controller = new AbortController();
        input = this.job(this.#controller.signal);
      } else {
        input = (this.job as () => ObservableInput<T>)();
      }
    } catch (err) {
      this.#settle(undefined, err, true);
      return;
    }
    if (isPromiseLike(input)) {
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

  /** The subscriber's teardown: leave the queue, or abort the run. */
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
    if (failed) this.subscriber.error(err);
    else {
      if (hasValue) this.subscriber.next(value as T);
      this.subscriber.complete();
    }
    this.slots.release();
  }
}

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
