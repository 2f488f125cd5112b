import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { ItemsBroker, withItems } from '../support/brokers';
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
