import { createClock } from '@sinonjs/fake-timers';
import { clock } from '../../lib/clock';

/** Virtual time for sasync's own timers (lib/clock.ts): it moves only when the spec moves it. */
export interface VirtualClock {
  /** Virtual milliseconds since the clock was installed. */
  readonly now: number;
  /** Moves time on by `ms`, running every timer due meanwhile and the promise jobs they start. */
  advance(ms: number): Promise<void>;
  /** Timers set and not yet run or cleared. */
  pending(): number;
  /** Puts the platform clock back. */
  uninstall(): void;
}

/**
 * Puts sasync's timers (timeouts, backoffs, grace periods, retry pauses) on
 * virtual time until `uninstall()`. Database round trips still take real
 * time: a spec waits for those as events, and moves the virtual clock to
 * make a timer fire at the moment it chooses.
 */
export function installVirtualClock(): VirtualClock {
  const fake = createClock(0);
  clock.delegate = {
    now: () => fake.now,
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    clearTimeout: (handle) => fake.clearTimeout(handle as ReturnType<typeof fake.setTimeout>),
  };
  return {
    get now() {
      return fake.now;
    },
    async advance(ms) {
      await fake.tickAsync(ms);
    },
    pending: () => fake.countTimers(),
    uninstall() {
      clock.delegate = undefined;
    },
  };
}

/** A virtual clock for each test of the enclosing describe, uninstalled after it. */
export function useVirtualClock(): { readonly current: VirtualClock } {
  const holder: { current: VirtualClock } = { current: undefined as unknown as VirtualClock };
  beforeEach(() => {
    holder.current = installVirtualClock();
  });
  afterEach(() => holder.current.uninstall());
  return holder;
}
