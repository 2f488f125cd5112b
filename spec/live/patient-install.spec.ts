import { TimeoutError } from '../../lib';
import {
  CAPTURE_INSTALL_TIMEOUT_MS,
  CAPTURE_METHOD,
  FIRST_PAUSE_MS,
  installPatiently,
  MAX_PAUSE_MS,
  type Waiter,
} from '../../lib/live/patient-install';
import { useVirtualClock } from '../support/virtual-clock';

/** The error a try fails with when a lock it needed was held past its wait. */
const locked = () => Object.assign(new Error('canceling statement due to lock timeout'), { code: '55P03' });
const isLocked = (e: unknown) => (e as { code?: string }).code === '55P03';

/**
 * The retry loop alone (no database: its tries are functions here), on the
 * virtual clock. The specs of capture-install.spec.ts run it against real
 * locks on postgres.
 */
describe('installPatiently', () => {
  const clock = useVirtualClock();

  /** Settles `p`, moving the virtual clock on in small steps until it does. */
  async function drive<T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> {
    let outcome: { value?: T; error?: unknown } | undefined;
    p.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    for (let steps = 0; outcome === undefined && steps < 10_000; steps++) await clock.current.advance(10);
    if (outcome === undefined) throw new Error('installPatiently did not settle in 100 s of virtual time');
    return outcome;
  }

  it('tries again after pauses that double up to the longest, each try given the time left, and gives up with TimeoutError once it is spent', async () => {
    const tries: { at: number; budget: number }[] = [];
    const waiter: Waiter = { stopped: false };
    const { error } = await drive(
      installPatiently(
        async (budget) => {
          tries.push({ at: clock.current.now, budget });
          // Each try waits for its lock (virtual time), then gives way.
          await clock.current.advance(1500);
          throw locked();
        },
        isLocked,
        waiter,
        'table "t"',
      ),
    );
    expect(error).toBeInstanceOf(TimeoutError);
    const timeout = error as TimeoutError;
    expect(timeout.timeout).toBe(CAPTURE_INSTALL_TIMEOUT_MS);
    expect(timeout.attempts).toBe(tries.length);
    expect(timeout.method).toBe(CAPTURE_METHOD);
    expect(timeout.message).toContain('could not install the change capture on table "t"');
    expect(timeout.message).toContain('lock timeout');
    expect(isLocked(timeout.cause)).toBe(true);
    // Every try had time left, and the whole wait stayed within the bound.
    for (const t of tries) {
      expect(t.budget).toBeGreaterThan(0);
      expect(t.at + t.budget).toBe(CAPTURE_INSTALL_TIMEOUT_MS);
    }
    const pauses = tries.slice(1).map((t, i) => t.at - tries[i]!.at - 1500);
    const expected = pauses.map((_, i) => Math.min(MAX_PAUSE_MS, FIRST_PAUSE_MS * 2 ** i));
    // The last pause may be cut short by the deadline.
    expect(pauses.slice(0, -1)).toEqual(expected.slice(0, -1));
    expect(pauses.at(-1)!).toBeLessThanOrEqual(expected.at(-1)!);
    expect(clock.current.pending()).toBe(0);
    expect(waiter.wake).toBeUndefined();
  });

  it("gives up when a try runs out of the time it was given (its transaction's own TimeoutError)", async () => {
    const { error } = await drive(
      installPatiently(
        async (budget) => {
          await clock.current.advance(budget);
          throw new TimeoutError('transaction timed out', { timeout: budget });
        },
        isLocked,
        { stopped: false },
        'table "t"',
      ),
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toContain('could not install the change capture');
    expect((error as TimeoutError).attempts).toBe(1);
  });

  it('passes on at once an error that is no lock, and a TimeoutError of some other limit', async () => {
    const denied = Object.assign(new Error('permission denied for table t'), { code: '42501' });
    let calls = 0;
    const first = await drive(
      installPatiently(
        async () => {
          calls++;
          throw denied;
        },
        isLocked,
        { stopped: false },
        't',
      ),
    );
    expect(first.error).toBe(denied);
    expect(calls).toBe(1);
    const other = new TimeoutError('some other limit', { timeout: 5 });
    const second = await drive(
      installPatiently(
        async () => {
          throw other;
        },
        isLocked,
        { stopped: false },
        't',
      ),
    );
    expect(second.error).toBe(other);
  });

  it('resolves with undefined as soon as the watch stops during a pause, leaving no timer', async () => {
    const waiter: Waiter & { stopped: boolean } = { stopped: false };
    let calls = 0;
    const result = installPatiently(
      async () => {
        calls++;
        throw locked();
      },
      isLocked,
      waiter,
      't',
    );
    // Let the first try fail: its pause is then waiting on the virtual clock.
    for (let i = 0; i < 10 && waiter.wake === undefined; i++) await Promise.resolve();
    expect(waiter.wake).toBeDefined();
    expect(clock.current.pending()).toBe(1);
    waiter.stopped = true;
    waiter.wake!();
    await expect(result).resolves.toBeUndefined();
    expect(calls).toBe(1);
    expect(clock.current.pending()).toBe(0);
  });

  it('returns what a try gives, after tries that found the table locked', async () => {
    let calls = 0;
    const { value } = await drive(
      installPatiently(
        async () => {
          if (++calls < 3) throw locked();
          return 'installed';
        },
        isLocked,
        { stopped: false },
        't',
      ),
    );
    expect(value).toBe('installed');
    expect(calls).toBe(3);
  });
});
