import { EMPTY, Subscription, type Observable, type SchedulerAction, type SchedulerLike } from 'rxjs';
import { clock, type TimerHandle } from '../clock';
import type { PriorityOptions } from './priority';

/**
 * What the adapter needs of its queue: a {@link PriorityScheduler}, named by
 * shape so that the scheduler and its adapter do not import each other.
 */
export interface Queue {
  schedule(job: () => Observable<never>, options: PriorityOptions): Observable<unknown>;
}

type Work<T> = (this: SchedulerAction<T>, state?: T) => void;

/**
 * An RxJS `SchedulerLike` whose actions wait their turn in a
 * {@link PriorityScheduler}, so `observeOn(q.withNiceness(10))` delivers
 * behind more urgent database work.
 */
export class QueueSchedulerLike implements SchedulerLike {
  readonly #queue: Queue;
  readonly #priority: PriorityOptions;

  constructor(queue: Queue, priority: PriorityOptions) {
    this.#queue = queue;
    this.#priority = priority;
  }

  now(): number {
    return clock.now();
  }

  schedule<T>(work: Work<T>, delay = 0, state?: T): Subscription {
    return new QueueAction(this.#queue, this.#priority, work).schedule(state, delay);
  }
}

class QueueAction<T> extends Subscription implements SchedulerAction<T> {
  #pending: Subscription | undefined;
  #timer: TimerHandle | undefined;

  constructor(
    private readonly queue: Queue,
    private readonly priority: PriorityOptions,
    private readonly work: Work<T>,
  ) {
    super(() => this.#cancel());
  }

  schedule(state?: T, delay = 0): Subscription {
    if (this.closed) return this;
    this.#cancel();
    if (delay > 0) {
      this.#timer = clock.setTimeout(() => {
        this.#timer = undefined;
        this.#enqueue(state);
      }, delay);
    } else {
      this.#enqueue(state);
    }
    return this;
  }

  #enqueue(state: T | undefined): void {
    const job = () => {
      this.#pending = undefined;
      if (!this.closed) this.work.call(this, state);
      return EMPTY;
    };
    const pending = this.queue.schedule(job, this.priority).subscribe();
    // The job may already have run (and rescheduled) synchronously.
    if (!pending.closed) this.#pending = pending;
  }

  #cancel(): void {
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending?.unsubscribe();
    this.#pending = undefined;
  }
}
