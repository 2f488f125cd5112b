import { from, Observable, type ObservableInput, type SchedulerLike, type Subscription } from 'rxjs';
import { Heap, type HeapEntry } from './heap';
import { checkPriority, compareKeys, queueKey, type PriorityOptions, type QueueKey } from './priority';
import { QueueSchedulerLike } from './scheduler-like';

/**
 * A unit of work for the queue. It gets a signal that aborts when its
 * subscriber unsubscribes while it runs. A Promise-returning job keeps its
 * slot until the Promise settles, even after an abort (a transaction must
 * finish rolling back before the next one may use the connection); an
 * Observable job gives its slot back as soon as it is unsubscribed.
 */
export type Job<T> = (signal: AbortSignal) => ObservableInput<T>;

interface QueuedTask extends HeapEntry {
  readonly key: QueueKey;
  start(): void;
}

type TaskState = 'queued' | 'running' | 'done';

/**
 * A priority queue that runs at most `concurrency` jobs at once, in order of
 * AsynQueue's priority (see {@link queueKey}): doNext first, then by niceness
 * and submission order, then doLast.
 *
 * ```ts
 * const q = new PriorityScheduler(1);
 * q.schedule(() => fetchReport(), { niceness: 10 }).subscribe(console.log);
 * await q.drain();
 * ```
 */
export class PriorityScheduler {
  readonly concurrency: number;
  readonly #queue = new Heap<QueuedTask>((a, b) => compareKeys(a.key, b.key) < 0);
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
   * once. Unsubscribing while queued removes it; while running, aborts its
   * signal (and unsubscribes it, for an Observable job).
   * @throws RangeError at once for bad priority options; nothing is queued.
   */
  schedule<T>(job: Job<T>, options?: PriorityOptions): Observable<T> {
    checkPriority(options);
    return new Observable<T>((subscriber) => {
      let state: TaskState = 'queued';
      let controller: AbortController | undefined;
      let cancelInner: (() => void) | undefined;
      const settle = (deliver: () => void): void => {
        if (state !== 'running') return;
        state = 'done';
        deliver();
        this.#release();
      };
      const task: QueuedTask = {
        heapIndex: -1,
        key: queueKey(++this.#serial, options),
        start: () => {
          state = 'running';
          this.#running++;
          controller = new AbortController();
          let input: ObservableInput<T>;
          try {
            input = job(controller.signal);
          } catch (err) {
            settle(() => subscriber.error(err));
            return;
          }
          if (isPromiseLike(input)) {
            input.then(
              (value) => settle(() => (subscriber.next(value), subscriber.complete())),
              (err: unknown) => settle(() => subscriber.error(err)),
            );
            return;
          }
          // The subscriber may unsubscribe while the job is still being
          // subscribed (take(1) on a synchronous value): cancelInner must
          // exist before subscribing, and catch up once subscribe returns.
          let inner: Subscription | undefined = undefined;
          cancelInner = () => settle(() => inner?.unsubscribe());
          inner = from(input).subscribe({
            next: (value) => subscriber.next(value),
            error: (err: unknown) => settle(() => subscriber.error(err)),
            complete: () => settle(() => subscriber.complete()),
          });
          if ((state as TaskState) === 'done') inner.unsubscribe();
        },
      };
      this.#queue.push(task);
      this.#pump();
      return () => {
        if (state === 'queued') {
          state = 'done';
          this.#queue.remove(task);
          this.#checkDrained();
        } else if (state === 'running') {
          controller?.abort();
          cancelInner?.();
        }
      };
    });
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
      while (this.#running < this.concurrency && this.#queue.size > 0) this.#queue.pop()!.start();
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

function isPromiseLike<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
