import { untilRead } from '../../lib/stores/remote-retry';
import { useVirtualClock } from '../support/virtual-clock';

/** A store's close, as untilRead hears it. */
function closable() {
  let closed = false;
  const fns = new Set<() => void>();
  return {
    stop: {
      stopped: () => closed,
      onStop: (fn: () => void) => (fns.add(fn), () => void fns.delete(fn)),
    },
    close() {
      closed = true;
      for (const fn of [...fns]) fn();
    },
  };
}

describe('untilRead: a re-read tried again until it succeeds or its store closes', () => {
  const time = useVirtualClock();

  it('tries again after a pause, and stops once it succeeds', async () => {
    const store = closable();
    let tries = 0;
    const done = untilRead(async () => {
      if (++tries < 3) throw new Error('lost');
    }, store.stop);
    await time.current.advance(100);
    await time.current.advance(200);
    await done;
    expect(tries).toBe(3);
    expect(time.current.pending()).toBe(0);
  });

  it('a re-read failing because its store is closing leaves no timer behind', async () => {
    const store = closable();
    const done = untilRead(async () => {
      store.close();
      throw new Error('the broker was shut down');
    }, store.stop);
    await done;
    expect(time.current.pending()).toBe(0);
  });

  it('the store closing during a pause ends it at once, its timer cleared', async () => {
    const store = closable();
    let tries = 0;
    const done = untilRead(async () => {
      tries++;
      throw new Error('lost');
    }, store.stop);
    await Promise.resolve();
    await Promise.resolve();
    expect(time.current.pending()).toBe(1);
    store.close();
    await done;
    expect(tries).toBe(1);
    expect(time.current.pending()).toBe(0);
  });
});
