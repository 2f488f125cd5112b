/** A timer handle, opaque to callers. */
export type TimerHandle = unknown;

/** Time and timers, as sasync's own code reads and sets them. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `fn` after `ms`. An unref'd timer does not keep the process alive
   * (a backoff or a reconnection is no reason to keep a program running).
   */
  setTimeout(fn: () => void, ms: number, options?: { readonly unref?: boolean }): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

const platform: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms, options) {
    const handle = setTimeout(fn, ms);
    if (options?.unref) handle.unref();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * The clock every timeout, backoff, grace period and retry pause in sasync
 * runs on (like RxJS's `intervalProvider`): the platform's, unless a test
 * sets `delegate` to a virtual one, and then time moves only when the test
 * moves it, so that timing specs neither sleep nor race.
 *
 * ```ts
 * import { createClock } from '@sinonjs/fake-timers';
 * const fake = createClock();
 * clock.delegate = {
 *   now: () => fake.now,
 *   setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
 *   clearTimeout: (handle) => fake.clearTimeout(handle as ReturnType<typeof fake.setTimeout>),
 * };
 * await fake.tickAsync(5000); // timers due within 5 s run now
 * clock.delegate = undefined;
 * ```
 * (`spec/support/virtual-clock.ts` does this for specs.)
 */
export const clock: Clock & { delegate: Clock | undefined } = {
  delegate: undefined,
  now() {
    return (clock.delegate ?? platform).now();
  },
  setTimeout(fn, ms, options) {
    return (clock.delegate ?? platform).setTimeout(fn, ms, options);
  },
  clearTimeout(handle) {
    (clock.delegate ?? platform).clearTimeout(handle);
  },
};
