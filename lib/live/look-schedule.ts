import { clock, type TimerHandle } from '../clock';

/**
 * When to look at each watched table again, with the looks that fall close
 * together made as one: one timer for all of them, set for the earliest
 * look due; when it fires, every table due within `window` ms from then is
 * looked at in the same call of `look` (a little early, which is harmless),
 * and tables looked at together stay in step from then on. A table being
 * looked at is not due again until `look` schedules it again ({@link at});
 * the others' looks go on meanwhile, in calls of their own. The timer is
 * unref'd (looking again is no reason to keep a program running) and
 * cleared once nothing is due.
 */
export class LookSchedule<K> {
  readonly #look: (keys: readonly K[]) => Promise<void>;
  readonly #window: number;
  readonly #due = new Map<K, number>();
  #timer: TimerHandle | undefined;

  constructor(look: (keys: readonly K[]) => Promise<void>, window: number) {
    this.#look = look;
    this.#window = window;
  }

  /** Looks at `key` again in `delay` ms (replacing when it was due before). */
  at(key: K, delay: number): void {
    this.#due.set(key, clock.now() + delay);
    this.#arm();
  }

  /** `key` is not looked at again (until scheduled again). */
  drop(key: K): void {
    if (this.#due.delete(key)) this.#arm();
  }

  #arm(): void {
    if (this.#timer !== undefined) clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#due.size === 0) return;
    let first = Infinity;
    for (const at of this.#due.values()) first = Math.min(first, at);
    this.#timer = clock.setTimeout(() => void this.#fire(), Math.max(0, first - clock.now()), { unref: true });
  }

  async #fire(): Promise<void> {
    this.#timer = undefined;
    const horizon = clock.now() + this.#window;
    const keys: K[] = [];
    for (const [key, at] of this.#due) if (at <= horizon) keys.push(key);
    for (const key of keys) this.#due.delete(key);
    this.#arm();
    try {
      await this.#look(keys);
    } catch {
      // `look` handles its failures (a look that failed is scheduled again, later): nothing is left to do.
    }
  }
}
