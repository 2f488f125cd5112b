import { clock } from '../lib/clock';
import { installVirtualClock } from './support/virtual-clock';

describe('the clock provider (lib/clock.ts)', () => {
  it('runs timers on the platform clock when no delegate is set', async () => {
    expect(clock.delegate).toBeUndefined();
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(1000);
    await new Promise<void>((resolve) => clock.setTimeout(resolve, 1, { unref: true }));
  });

  it('clears a platform timer before it fires', () => {
    let fired = false;
    const handle = clock.setTimeout(() => (fired = true), 1);
    clock.clearTimeout(handle);
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        expect(fired).toBe(false);
        resolve();
      }),
    );
  });

  it('moves only when a virtual clock is advanced, and is the platform clock again once uninstalled', async () => {
    const virtual = installVirtualClock();
    try {
      const fired: number[] = [];
      clock.setTimeout(() => fired.push(clock.now()), 1000);
      const cleared = clock.setTimeout(() => fired.push(-1), 500);
      clock.clearTimeout(cleared);
      expect(virtual.pending()).toBe(1);
      await virtual.advance(999);
      expect(fired).toEqual([]);
      await virtual.advance(1);
      expect(fired).toEqual([1000]);
      expect(virtual.now).toBe(1000);
    } finally {
      virtual.uninstall();
    }
    expect(clock.delegate).toBeUndefined();
  });
});
