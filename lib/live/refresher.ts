import { clock, type TimerHandle } from '../clock';

/** Under a sustained stream of changes the interval between runs grows up to this many throttles. */
export const MAX_BACKOFF = 12;

/**
 * When a live query runs again: at most one run per `throttle` ms, and never
 * two at once. A change while idle runs it at once if the last run began a
 * throttle ago or more, else when that throttle is over; changes while a run
 * is waiting or going are one more run after it, never a queue of them
 * (a burst of commits is one re-query, and the last one's result is read).
 *
 * Changes that keep coming (each run had to wait for its interval) double
 * the interval, up to MAX_BACKOFF throttles (360 ms by default): a stream
 * of 1,000 commits a second costs about 3 re-queries a second, not 33,
 * while an isolated change is still read at once. A change after a quiet
 * interval brings it back to `throttle`.
 */
export class Refresher {
  readonly #throttle: number;
  #interval: number;
  readonly #run: () => Promise<void>;
  #dirty = false;
  /** True until the first run ends: changes meanwhile are one run after it. */
  #running = true;
  #timer: TimerHandle | undefined;
  #lastStart = -Infinity;
  /** The run about to start waited for the interval. */
  #held = false;
  #stopped = false;
  /** Runs started, for specs and benches. */
  runs = 0;

  constructor(throttle: number, run: () => Promise<void>) {
    this.#throttle = throttle;
    this.#interval = throttle;
    this.#run = run;
  }

  /** Something the query reads may have changed. */
  changed(): void {
    this.#dirty = true;
    this.#pump();
  }

  /** No more runs; a timer set is cleared (a run going ends on its own). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The first run (the query's first result), counted as a run for the throttle. */
  async first(): Promise<void> {
    this.#lastStart = clock.now();
    try {
      await this.#run();
    } finally {
      this.#running = false;
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#stopped || this.#running || this.#timer !== undefined || !this.#dirty) return;
    const wait = this.#lastStart + this.#interval - clock.now();
    if (wait > 0) {
      this.#timer = clock.setTimeout(() => {
        this.#timer = undefined;
        this.#held = true;
        this.#pump();
      }, wait);
      return;
    }
    // Held by the interval (changes kept coming): the next interval is longer. Not held (quiet
    // for a whole interval, or the run itself took that long): back to the throttle.
    this.#interval = this.#held ? Math.min(this.#interval * 2, this.#throttle * MAX_BACKOFF) : this.#throttle;
    this.#held = false;
    this.#dirty = false;
    this.#running = true;
    this.#lastStart = clock.now();
    this.runs++;
    // A failed run is reported by #run itself (the live query errors): nothing more runs then.
    void this.#run()
      .catch(() => undefined)
      .finally(() => {
        this.#running = false;
        this.#pump();
      });
  }
}
