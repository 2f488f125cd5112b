import { concatMap, lastValueFrom } from 'rxjs';
import { AccessBroker } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { pgAvailable, postgres, sqliteMemory } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

// Postgres for the outer broker: the unrelated transaction must be able to run
// next to the failing one (on sqlite it would rightly wait for it).
describePg('transaction context does not leak into unrelated work [postgres + sqlite-memory]', () => {
  it('does not let a transaction started from another queue’s result join a transaction that happened to start that job', () =>
    withItems(postgres, async (a) => {
      const other = new AccessBroker(sqliteMemory.target());
      await other.waitUntilRunning();
      const inT = latch();
      const gate = latch();
      const vDone = latch();
      // T runs a transaction on the other database; its job starts inside T's
      // context, and U, queued behind it there, starts when it ends.
      const t = lastValueFrom(
        a.transact(async () => {
          await lastValueFrom(other.transact(async () => (inT.resolve(), gate.promise)));
          await vDone.promise;
          throw new Error('T fails');
        }),
      );
      await inT.promise;
      const u = lastValueFrom(
        other.query('SELECT 1 AS one').pipe(concatMap(() => a.query(a.insertSql(), ['V, unrelated to T']))),
      ).finally(() => vDone.resolve());
      gate.resolve();
      await u;
      await expect(t).rejects.toThrow('T fails');
      expect(await a.names()).toEqual(['V, unrelated to T']);
      await other.shutdown();
    }));
});
