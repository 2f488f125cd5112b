import { lastValueFrom } from 'rxjs';
import { ConnectionLostError, TransactionError } from '../../lib';
import { expectPoolWhole } from '../support/brokers';
import { useClusterBroker } from '../support/cluster-broker';
import { pgClusterAvailable } from '../support/pg-cluster';
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
  const fixture = useClusterBroker('?max=6');

  it.each(['fast', 'immediate'] as const)(
    'loses no acknowledged write and reports every failure as a lost connection (%s restart) [postgres]',
    async (mode) => {
      const outcomes: Outcome[] = [];
      let stop = false;
      let n = 0;
      let restarted = false;
      let ackedAfterRestart = 0;
      // Eight workers, each with one transaction in flight at a time, until told to stop.
      const worker = async () => {
        while (!stop) {
          const name = `${mode}-${++n}`;
          const startedAfterRestart = restarted;
          outcomes.push(
            await lastValueFrom(
              fixture.broker.transact(async (tx) => {
                await tx.query(fixture.broker.insertSql(), [name]);
                await tx.query('SELECT pg_sleep(0.005)');
              }),
            ).then(
              () => {
                if (startedAfterRestart) ackedAfterRestart++;
                return { name };
              },
              (error: unknown) => ({ name, error }),
            ),
          );
        }
      };
      const load = Promise.all(Array.from({ length: 8 }, worker));
      await until(() => n >= 20, 'load under way');
      await fixture.cluster.restart({ mode });
      restarted = true;
      // Under load until the broker has served again after the restart.
      await until(() => ackedAfterRestart >= 5, 'writes acknowledged after the restart');
      stop = true;
      await load;
      const failed = outcomes.filter((o) => o.error !== undefined);
      const acknowledged = outcomes.filter((o) => o.error === undefined).map((o) => o.name);
      expect(acknowledged.length).toBeGreaterThan(0);
      expect(failed.length).toBeGreaterThan(0);
      for (const { error } of failed) {
        expect(error).toBeInstanceOf(TransactionError);
        expect((error as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
        expect((error as TransactionError).code).toBeDefined();
      }
      const stored = new Set(await fixture.broker.names());
      for (const name of acknowledged) expect(stored).toContain(name);
      for (const { name, error } of failed)
        if (!((error as TransactionError).cause as ConnectionLostError).duringCommit)
          expect(stored).not.toContain(name);
      // Serves again, on a pool whose dead clients were replaced.
      await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), [`${mode}-after`]));
      expect(await fixture.broker.names()).toContain(`${mode}-after`);
      await until(
        () => fixture.broker.connectionStats().idle === fixture.broker.connectionStats().open,
        'the pool is whole',
      );
      expectPoolWhole(fixture.broker);
    },
  );
});
