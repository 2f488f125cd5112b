import { clock, type TimerHandle } from '../clock';

/**
 * When a live query runs again: at most one run per `throttle` ms, and never
 * two at once. A change while idle runs it at once if the last run began a
 * throttle ago or more, else when that throttle is over; changes while a run
 * is waiting or going are one more run after it, never a queue of them
 * (a burst of commits is one re-query, and the last one's result is read).
 */
export class Refresher {
  readonly #throttle: number;
  readonly #run: () => Promise<void>;
  #dirty = false;
  /** True until the first run ends: changes meanwhile are one run after it. */
  #running = true;
  #timer: TimerHandle | undefined;
  #lastStart = -Infinity;
  #stopped = false;
  /** Runs started, for specs and benches. */
  runs = 0;

  constructor(throttle: number, run: () => Promise<void>) {
    this.#throttle = throttle;
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
    const wait = this.#lastStart + this.#throttle - clock.now();
    if (wait > 0) {
      this.#timer = clock.setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, wait);
      return;
    }
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
