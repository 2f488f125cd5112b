import { lastValueFrom, of, toArray } from 'rxjs';
import type { DataSourceOptions } from 'typeorm';
import { resolveTarget, TransactionError } from '../../lib';
import { cancelledWhileWorking, expectPoolWhole, ItemsBroker, latch, withItems } from '../support/brokers';
import { allTargets, type TestTarget } from '../support/targets';

class NestingBroker extends ItemsBroker {
  readonly one = this.transaction(async (tx) => {
    await tx.query(this.insertSql(), ['one']);
    return 1;
  });
  readonly two = this.transaction(async () => 1 + (await lastValueFrom(this.one())));
  readonly three = this.transaction(async () => 1 + (await lastValueFrom(this.two())));
  readonly threeThenFail = this.transaction(async () => {
    await lastValueFrom(this.three());
    throw new Error('outer fails after the nested parts');
  });
  readonly txid = this.transaction(async (tx) => String((await tx.query('SELECT txid_current() AS id'))[0].id));
  readonly txids = this.transaction(async () => [await lastValueFrom(this.txid()), await lastValueFrom(this.txid())]);
}

async function withNesting(t: TestTarget, fn: (b: NestingBroker) => Promise<void>): Promise<void> {
  const b = new NestingBroker(t.target());
  await b.waitUntilRunning();
  try {
    await fn(b);
  } finally {
    await b.dropItems();
    await b.shutdown();
  }
}

describe.each(allTargets)('nested transactions [$name]', (t) => {
  it('joins the outer transaction: sAsync nestedTransaction returns 3', () =>
    withNesting(t, async (b) => {
      await expect(lastValueFrom(b.three())).resolves.toBe(3);
      expect(await b.names()).toEqual(['one']);
    }));

  it('is one transaction: when the outer fails, the nested parts roll back too', () =>
    withNesting(t, async (b) => {
      await expect(lastValueFrom(b.threeThenFail())).rejects.toBeInstanceOf(TransactionError);
      expect(await b.names()).toEqual([]);
    }));

  if (t.dialect === 'postgres') {
    it('runs nested parts under the same postgres transaction id', () =>
      withNesting(t, async (b) => {
        const [a, c] = await lastValueFrom(b.txids());
        expect(a).toBe(c);
      }));
  }

  it('with savepoint: true, rolls back only the failing nested part', () =>
    withItems(t, async (b) => {
      const result = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['outer']);
          const nested = b.transact(
            async (inner) => {
              await inner.query(b.insertSql(), ['inner']);
              throw new Error('nested part fails');
            },
            { savepoint: true },
          );
          const error = await lastValueFrom(nested).catch((e: unknown) => e);
          await tx.query(b.insertSql(), ['outer again']);
          return error;
        }),
      );
      expect(result).toBeInstanceOf(TransactionError);
      expect((result as TransactionError).cause).toEqual(new Error('nested part fails'));
      expect(await b.names()).toEqual(['outer', 'outer again']);
    }));

  it('runs concurrent savepoints of one transaction one after the other', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.transact(async () => {
          const part = (name: string, fail: boolean) =>
            lastValueFrom(
              b.transact(
                async (tx) => {
                  await tx.query(b.insertSql(), [name]);
                  await new Promise((r) => setImmediate(r));
                  if (fail) throw new Error(`${name} fails`);
                },
                { savepoint: true },
              ),
            ).catch(() => 'failed');
          await Promise.all([part('keep1', false), part('drop', true), part('keep2', false)]);
        }),
      );
      expect(await b.names()).toEqual(['keep1', 'keep2']);
    }));

  it('gives this.tx inside the work and a clear error outside it', () =>
    withItems(t, async (b) => {
      const same = await lastValueFrom(b.transact(async (tx) => b.tx === tx));
      expect(same).toBe(true);
      expect(() => b.tx).toThrow(TransactionError);
      expect(() => b.tx).toThrow(/only available inside a transaction/);
    }));
});

describe.each(allTargets)('nested work that outlives its transaction [$name]', (t) => {
  // On postgres, this test's connections carry their own application_name, so
  // that the check below sees only them, not other test processes' sessions.
  const appName = `sasync-spec-${process.pid}`;
  const named =
    t.dialect === 'postgres'
      ? ({ ...resolveTarget(t.target()).options, applicationName: appName } as DataSourceOptions)
      : t.target();
  it('rolls back the whole transaction when it fails while a savepoint part is still running', () =>
    withItems(
      t,
      async (b) => {
        const savepointWaiting = latch();
        const releaseSavepoint = latch();
        const savepointResult = latch<unknown>();
        const outer = lastValueFrom(
          b.transact(async (tx) => {
            await tx.query(b.insertSql(), ['outer']);
            const slow = lastValueFrom(
              b.transact(
                async (inner) => {
                  await inner.query(b.insertSql(), ['savepoint']);
                  savepointWaiting.resolve();
                  await releaseSavepoint.promise;
                  await inner.query(b.insertSql(), ['savepoint after']);
                },
                { savepoint: true },
              ),
            ).then(savepointResult.resolve, savepointResult.resolve);
            const failing = savepointWaiting.promise.then(() => Promise.reject(new Error('sibling fails')));
            await Promise.all([slow, failing]);
          }),
        );
        await expect(outer).rejects.toBeInstanceOf(TransactionError);
        releaseSavepoint.resolve();
        expect(await savepointResult.promise).toBeInstanceOf(TransactionError);
        await b.drain();
        expect(await b.names()).toEqual([]);
        // The connection was not left inside the dead transaction: later work commits normally.
        await lastValueFrom(b.query(b.insertSql(), ['later']));
        await expect(lastValueFrom(b.transact(() => Promise.reject(new Error('x'))))).rejects.toThrow();
        expect(await b.names()).toEqual(['later']);
        expectPoolWhole(b);
        if (t.dialect === 'postgres') {
          const stuck = await lastValueFrom(
            b.query(
              "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'idle in transaction' AND application_name = $1",
              [appName],
            ),
          );
          expect(stuck).toEqual([{ n: 0 }]);
          const mine = await lastValueFrom(
            b.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [appName]),
          );
          expect(mine[0]!.n).toBeGreaterThanOrEqual(1);
        }
      },
      named,
    ));

  it('fails a transaction whose work returns before its savepoint part finished, committing nothing', () =>
    withItems(t, async (b) => {
      const release = latch();
      const error = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['outer']);
          // Not awaited: a bug in the caller's work.
          void lastValueFrom(b.transact(async () => release.promise, { savepoint: true })).catch(() => undefined);
          await new Promise((r) => setImmediate(r));
        }),
      ).catch((e: unknown) => e);
      release.resolve();
      expect(error).toBeInstanceOf(TransactionError);
      expect((error as Error).message).toMatch(/savepoint.*still running/);
      await b.drain();
      expect(await b.names()).toEqual([]);
      await lastValueFrom(b.query(b.insertSql(), ['later']));
      expect(await b.names()).toEqual(['later']);
    }));

  it('refuses a nested transaction method called by work whose transaction was cancelled', () =>
    withItems(t, async (b) => {
      const { resume, nested } = await cancelledWhileWorking(b);
      resume();
      expect(await nested).toBeInstanceOf(TransactionError);
      expect(((await nested) as Error).message).toMatch(/already ended/);
      await b.drain();
      expect(await b.names()).toEqual([]);
    }));

  it('runs run() inside a transaction in place instead of queueing behind itself, flattening Observables', () =>
    withItems(t, async (b) => {
      const values = await lastValueFrom(b.transact(async () => lastValueFrom(b.run(() => of(1, 2)).pipe(toArray()))));
      expect(values).toEqual([1, 2]);
      await expect(lastValueFrom(b.run(() => of('a', 'b')).pipe(toArray()))).resolves.toEqual(['a', 'b']);
    }));
});
