import { AccessBroker } from '../../lib';
import { RowLocks } from '../../lib/cache/row-lock';
import { until } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

// Lock rows are sqlite's cache locks (postgres has session advisory locks, which die with their connection).
describe.each(allTargets.filter((t) => t.dialect === 'sqlite'))('cache lock rows [$name]', (t) => {
  const time = useVirtualClock();

  it(`a holder renews its lease while it holds the lock: a creator longer than the lease keeps it [${t.name}]`, async () => {
    const broker = new AccessBroker(t.target());
    const key = uniqueName('key');
    const locks = new RowLocks(broker, 1000);
    try {
      const held = (await locks.tryTake(key))!;
      expect(held).toBeDefined();
      // Three leases of virtual time; after each step, the renewal it started has committed and the next is set.
      for (let elapsed = 0; elapsed < 3000; elapsed += 250) {
        await time.current.advance(250);
        await until(() => time.current.pending() > 0, 'the next renewal is set');
      }
      expect(await locks.tryTake(key)).toBeUndefined();
      await held.release();
      // Released: no renewal left, and the next taker gets it at once.
      expect(time.current.pending()).toBe(0);
      const next = await locks.tryTake(key);
      expect(next).toBeDefined();
      await next!.release();
    } finally {
      await broker.shutdown();
    }
  });
});
