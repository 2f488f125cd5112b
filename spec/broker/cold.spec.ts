import { lastValueFrom, Subscription } from 'rxjs';
import { expectPoolWhole, latch, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

describe.each(allTargets)('transactions are cold Observables [$name]', (t) => {
  it('runs nothing when the Observable is created, only on subscription', () =>
    withItems(t, async (b) => {
      const work = jest.fn(async () => 'ran');
      const tx = b.transact(work);
      await b.drain();
      expect(work).not.toHaveBeenCalled();
      await expect(lastValueFrom(tx)).resolves.toBe('ran');
      expect(work).toHaveBeenCalledTimes(1);
    }));

  it('runs the work again, in its own transaction, for each subscription', () =>
    withItems(t, async (b) => {
      const insert = b.transact(async (tx) => tx.query(b.insertSql(), ['x']));
      await Promise.all([lastValueFrom(insert), lastValueFrom(insert)]);
      expect(await b.names()).toEqual(['x', 'x']);
    }));

  it('never runs work that is unsubscribed while queued', () =>
    withItems(t, async (b) => {
      const blockers = latch();
      // Fill every transaction slot so that the next one has to queue.
      const slots = b.dialect === 'postgres' ? 8 : 1;
      const held: Subscription[] = [];
      const started: Promise<void>[] = [];
      for (let i = 0; i < slots; i++) {
        const running = latch();
        started.push(running.promise);
        held.push(b.transact(async () => (running.resolve(), blockers.promise)).subscribe());
      }
      await Promise.all(started);
      const work = jest.fn(async (tx) => tx.query(b.insertSql(), ['queued']));
      const queued = b.transact(work).subscribe();
      queued.unsubscribe();
      blockers.resolve();
      await b.drain();
      expect(work).not.toHaveBeenCalled();
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it('rolls back work unsubscribed while running and gives its connection back', () =>
    withItems(t, async (b) => {
      const inserted = latch();
      const never = latch();
      const afterCancel = jest.fn();
      const sub = b
        .transact(async (tx) => {
          await tx.query(b.insertSql(), ['rolled back']);
          inserted.resolve();
          await never.promise;
          // Work that goes on after it was cancelled must not reach the database.
          await tx.query(b.insertSql(), ['after cancel']).catch(afterCancel);
        })
        .subscribe();
      await inserted.promise;
      sub.unsubscribe();
      await b.drain();
      never.resolve();
      await new Promise((r) => setImmediate(r));
      await b.drain();
      expect(await b.names()).toEqual([]);
      // sqlite: sasync's guard on the shared connection; postgres: TypeORM's released-runner check.
      expect(afterCancel).toHaveBeenCalledTimes(1);
      expect(afterCancel.mock.calls[0][0]).toBeInstanceOf(Error);
      expectPoolWhole(b);
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
    }));

  it('emits nothing before COMMIT and each value of an Observable work after it', () =>
    withItems(t, async (b) => {
      const { from } = await import('rxjs');
      const values: number[] = [];
      await new Promise<void>((resolve, reject) =>
        b.transact(() => from([1, 2, 3])).subscribe({ next: (v) => values.push(v), error: reject, complete: resolve }),
      );
      expect(values).toEqual([1, 2, 3]);
    }));
});
