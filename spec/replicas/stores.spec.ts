import { firstValueFrom, filter } from 'rxjs';
import { AccessBroker, PersistentDict } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { createReplicaPair, type ReplicaPair } from './replica-set';

(pgClusterAvailable ? describe : describe.skip)('stores on a replicated target [postgres]', () => {
  let pair: ReplicaPair;
  beforeAll(async () => {
    pair = await createReplicaPair();
  });
  afterAll(async () => {
    await pair?.remove();
  });

  it("run on the primary (their change log's positions are the primary's), and a broker reads their writes at once", async () => {
    const target = pair.target();
    const broker = new AccessBroker(target);
    const a = new PersistentDict<string, number>('counters', target);
    const b = new PersistentDict<string, number>('counters', target);
    try {
      await broker.waitUntilRunning();
      for (let i = 1; i <= 30; i++) {
        const seen = firstValueFrom(b.watch('n').pipe(filter((v) => v === i)));
        await a.set('n', i);
        // Another dict of the group hears of it through the change log, and reads it (on the primary).
        expect(await seen).toBe(i);
        // The store's commit went through the primary's DataSource: the broker's read waits for it.
        const rows = await broker.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM sasync_items WHERE group_id = 'counters' AND name = 'n'",
        );
        expect(rows).toEqual([{ n: 1 }]);
      }
      const c = new PersistentDict<string, number>('counters', target);
      expect(await c.get('n')).toBe(30);
      await c.shutdown();
    } finally {
      await Promise.all([a.shutdown(), b.shutdown(), broker.shutdown()]);
    }
  });
});
