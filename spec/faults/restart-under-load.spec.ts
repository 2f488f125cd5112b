import { lastValueFrom } from 'rxjs';
import { ConnectionLostError, TransactionError } from '../../lib';
import { expectPoolWhole, ItemsBroker } from '../support/brokers';
import { createCluster, pgClusterAvailable, type PgCluster } from '../support/pg-cluster';
import { until } from '../support/streams';

/** One write of the load: acknowledged, or failed with this error. */
interface Outcome {
  readonly name: string;
  readonly error?: unknown;
}

/**
 * The private cluster restarts while transactions are in flight: every
 * acknowledged write is there afterwards, every failed one failed with a
 * TransactionError caused by a ConnectionLostError (and is not there, unless
 * it was lost during COMMIT), and the broker serves again after.
 */
(pgClusterAvailable ? describe : describe.skip)('a server restart under load [postgres]', () => {
  let cluster: PgCluster;
  let broker: ItemsBroker;
  beforeAll(async () => {
    cluster = await createCluster();
    broker = new ItemsBroker(`${cluster.url}?max=6`);
    await broker.waitUntilRunning();
  });
  afterAll(async () => {
    await broker?.shutdown();
    await cluster?.remove();
  });

  it.each(['fast', 'immediate'] as const)(
    'loses no acknowledged write and reports every failure as a lost connection (%s restart) [postgres]',
    async (mode) => {
      const writes: Promise<Outcome>[] = [];
      let stop = false;
      let n = 0;
      const load = (async () => {
        while (!stop) {
          const name = `${mode}-${++n}`;
          writes.push(
            lastValueFrom(
              broker.transact(async (tx) => {
                await tx.query(broker.insertSql(), [name]);
                await tx.query('SELECT pg_sleep(0.005)');
              }),
            ).then(
              () => ({ name }),
              (error: unknown) => ({ name, error }),
            ),
          );
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await until(() => n >= 20, 'load under way');
      await cluster.restart({ mode });
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await load;
      const outcomes = await Promise.all(writes);
      const failed = outcomes.filter((o) => o.error !== undefined);
      const acknowledged = outcomes.filter((o) => o.error === undefined).map((o) => o.name);
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(failed.length).toBeGreaterThan(0);
      for (const { error } of failed) {
        expect(error).toBeInstanceOf(TransactionError);
        expect((error as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
        expect((error as TransactionError).code).toBeDefined();
      }
      const stored = new Set(await broker.names());
      for (const name of acknowledged) expect(stored).toContain(name);
      for (const { name, error } of failed)
        if (!((error as TransactionError).cause as ConnectionLostError).duringCommit)
          expect(stored).not.toContain(name);
      // Serves again, on a pool whose dead clients were replaced.
      await lastValueFrom(broker.query(broker.insertSql(), [`${mode}-after`]));
      expect(await broker.names()).toContain(`${mode}-after`);
      await until(() => broker.connectionStats().idle === broker.connectionStats().open, 'the pool is whole');
      expectPoolWhole(broker);
    },
  );
});
