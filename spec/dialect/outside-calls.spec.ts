import { lastValueFrom } from 'rxjs';
import { BrokerClosedError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

/**
 * TypeORM calls on broker.dataSource from outside sasync's work, in the
 * places where they used to hang or join a transaction they were not part of
 * (sqlite has one connection: such calls wait for the queue there).
 */
describe.each(allTargets)('the shared DataSource used around sasync work [$name]', (t) => {
  it(`dataSource.transaction() whose function uses the DataSource again finishes, and the broker goes on [${t.name}]`, () =>
    withItems(t, async (b) => {
      const counted = await b.dataSource.transaction(async (m) => {
        await m.query(b.insertSql(), ['inside']);
        return b.dataSource.query(`SELECT count(*) AS n FROM ${b.itemsTable}`);
      });
      expect(counted).toHaveLength(1);
      await lastValueFrom(b.query(b.insertSql(), ['after']));
      expect(await b.names()).toEqual(['inside', 'after']);
    }));

  it(`a dataSource write inside run() does not join the run's transaction that rolls back [${t.name}]`, () =>
    withItems(t, async (b) => {
      const inserted = latch();
      const issued = latch();
      await lastValueFrom(
        b.run(async () => {
          const tx = lastValueFrom(
            b.transact(async (m) => {
              await m.query(b.insertSql(), ['rolled back']);
              inserted.resolve();
              // The outside write is under way (on sqlite it waits for this transaction) when this one fails.
              await issued.promise;
              throw new Error('the work fails');
            }),
          ).catch((e: unknown) => e);
          await inserted.promise;
          const outside = b.dataSource.query(b.insertSql(), ['on its own']);
          issued.resolve();
          await outside;
          expect(await tx).toBeInstanceOf(Error);
        }),
      );
      expect(await b.names()).toEqual(['on its own']);
    }));

  it(`work a finished run() left behind goes through the shared queue, and is refused after shutdown() [${t.name}]`, async () => {
    const left = latch<Promise<unknown>>();
    const went = latch();
    await withItems(t, async (b) => {
      await lastValueFrom(
        b.run(() => {
          // Left running after the function returned: no longer part of the run.
          setImmediate(() => {
            left.resolve(
              (async () => {
                await went.promise;
                return lastValueFrom(b.query('SELECT 1 AS x')).catch((e: unknown) => e);
              })(),
            );
          });
          return 1;
        }),
      );
      // While the broker runs, such work is queued like any other.
      await lastValueFrom(b.transact(async (tx) => tx.query(b.insertSql(), ['queued'])));
      expect(await b.names()).toEqual(['queued']);
    });
    // withItems has shut the broker down.
    went.resolve();
    expect(await await left.promise).toBeInstanceOf(BrokerClosedError);
  });
});
