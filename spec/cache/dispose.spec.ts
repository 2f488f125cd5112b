import { BrokerClosedError, CacheRegion, PersistentBackend } from '../../lib';
import { allTargets, uniqueName } from '../support/targets';

describe.each(allTargets)('await using a cache region [$name]', (t) => {
  it('closes the region and its PersistentBackend when the block is left: failures$ completes, the backend refuses work', async () => {
    const group = uniqueName('cache');
    let backend!: PersistentBackend;
    let completed = false;
    {
      backend = new PersistentBackend(t.target(), { group });
      await using region = new CacheRegion<number>({ backend });
      region.failures$.subscribe({ complete: () => (completed = true) });
      expect(await region.getOrCreate('k', () => 42)).toBe(42);
      await region.invalidate();
    }
    expect(completed).toBe(true);
    await expect(backend.set('k', { value: 1, createdAt: 0 })).rejects.toBeInstanceOf(BrokerClosedError);
  });

  it('a PersistentBackend alone: released when the block is left; disposing again is harmless', async () => {
    let backend!: PersistentBackend;
    {
      await using held = new PersistentBackend(t.target(), { group: uniqueName('cache') });
      backend = held;
      await held.set('k', { value: 1, createdAt: 0 });
      expect((await held.get('k'))?.value).toBe(1);
      await held.clear();
    }
    await expect(backend.get('k')).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(backend[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });
});
