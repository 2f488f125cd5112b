import { Observable, type SchedulerLike, type Unsubscribable } from 'rxjs';
import { Heap } from './heap';
import { checkPriority, compareKeys, type PriorityOptions } from './priority';
import { QueueSchedulerLike } from './scheduler-like';
import { Task, type AbortableJob, type Job, type ScheduleOptions, type Slots, type TaskObserver } from './task';

/**
 * @internal The key of {@link PriorityScheduler}'s schedule-without-checks,
 * for sasync's own callers (a symbol: not part of the class's public API).
 */
export const scheduleChecked = Symbol('sasync.scheduleChecked');

/**
 * @internal The key of {@link PriorityScheduler}'s enqueue-without-checks,
 * which tells `observer` directly: no Observable and no RxJS Subscriber per
 * job, for sasync's own per-transaction callers.
 */
export const enqueueChecked = Symbol('sasync.enqueueChecked');

export type { AbortableJob, Job, ScheduleOptions, TaskObserver } from './task';

/**
 * A priority queue that runs at most `concurrency` jobs at once, in order of
 * AsynQueue's priority (see `queueKey` in ./priority): doNext first, then by niceness
 * and submission order, then doLast.
 *
 * ```ts
 * const q = new PriorityScheduler(1);
 * q.schedule(() => fetchReport(), { niceness: 10 }).subscribe(console.log);
 * await q.drain();
 * ```
 */
export class PriorityScheduler {
  /** How many jobs run at once, at most. */
  readonly concurrency: number;
  readonly #queue = new Heap<Task<unknown>>((a, b) => compareKeys(a, b) < 0);
  readonly #slots: Slots = {
    release: () => this.#release(),
    dequeue: (task) => {
      this.#queue.remove(task);
      this.#checkDrained();
    },
  };
  #serial = 0;
  #running = 0;
  #pumping = false;
  #drainWaiters: (() => void)[] = [];

  constructor(concurrency: number) {
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new RangeError(`concurrency must be an integer of at least 1, not ${concurrency}`);
    }
    this.concurrency = concurrency;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.#queue.size;
  }

  /** Jobs holding a slot. */
  get running(): number {
    return this.#running;
  }

  /**
   * A cold Observable of the job's results: each subscription queues the job
   * once. Unsubscribing while queued removes it; while running, unsubscribes
   * an Observable job (its slot is free at once), and aborts the signal of a
   * job that asked for one with `abortable: true`:
   *
   * ```ts
   * q.schedule((signal) => fetch(url, { signal }), { abortable: true });
   * ```
   *
   * A job that declares a signal without asking for it does not type-check.
   * @throws RangeError at once for bad priority options; nothing is queued.
   */
  schedule<T>(job: Job<T>, options?: ScheduleOptions & { readonly abortable?: false }): Observable<T>;
  schedule<T>(job: AbortableJob<T>, options: ScheduleOptions & { readonly abortable: true }): Observable<T>;
  schedule<T>(job: AbortableJob<T>, options?: ScheduleOptions): Observable<T> {
    checkPriority(options);
    return this[scheduleChecked](job as Job<T>, options as PriorityOptions);
  }

  /**
   * {@link schedule} for options that were checked already, when
   * the caller called (a transaction's or a stream's options): checking them
   * again on every subscription would validate one options object twice.
   */
  [scheduleChecked]<T>(job: Job<T>, options?: PriorityOptions): Observable<T> {
    return new Observable<T>((subscriber) => this[enqueueChecked](job, options, subscriber));
  }

  /**
   * Queues `job` now (options checked already) and tells `observer` its
   * results, as a subscription to {@link schedule} would; the returned
   * `unsubscribe` is that subscription's (leave the queue, or stop the run).
   * `observer` is called at most once with error or complete, never after.
   * @internal sasync's own transactions use it (no Observable per job); not part of the public API.
   */
  [enqueueChecked]<T>(job: Job<T>, options: PriorityOptions | undefined, observer: TaskObserver<T>): Unsubscribable {
    const task = new Task(this.#slots, job, observer, ++this.#serial, options);
    this.#queue.push(task as Task<unknown>);
    this.#pump();
    return task;
  }

  /** An RxJS scheduler that runs each action through this queue at `niceness`. */
  withNiceness(niceness: number, options: Omit<PriorityOptions, 'niceness'> = {}): SchedulerLike {
    const priority = { ...options, niceness };
    checkPriority(priority);
    return new QueueSchedulerLike(this, priority);
  }

  /** Resolves when nothing is queued or running. */
  drain(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #release(): void {
    this.#running--;
    this.#pump();
    this.#checkDrained();
  }

  // A loop, not recursion: a job that completes synchronously must not start
  // the next one from inside its own stack frame (100,000 of them would
  // overflow the stack).
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running < this.concurrency && this.#queue.size > 0) {
        this.#running++;
        this.#queue.pop()!.start();
      }
    } finally {
      this.#pumping = false;
    }
  }

  #idle(): boolean {
    return this.#running === 0 && this.#queue.size === 0;
  }

  #checkDrained(): void {
    if (!this.#idle() || this.#drainWaiters.length === 0) return;
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
