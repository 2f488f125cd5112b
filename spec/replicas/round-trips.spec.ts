import { AccessBroker } from '../../lib';
import { postgresAddress, startLatencyProxy, throughProxy, type LatencyProxy } from '../../bench/latency-proxy';
import { pgClusterAvailable } from '../support/pg-cluster';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/**
 * Round trips counted by the bench's latency proxy (see
 * spec/dialect/postgres-pipelined-begin.spec.ts), 1 ms each way, one in
 * front of each server: the commit positions cost none.
 */
const DELAY_MS = 1;
const RUNS = 5;

(pgClusterAvailable ? describe : describe.skip)('replicated target: round trips [postgres]', () => {
  let pair: ReplicaPair;
  let toPrimary: LatencyProxy;
  let toReplica: LatencyProxy;
  beforeAll(async () => {
    pair = await createReplicaPair();
    toPrimary = await startLatencyProxy({ to: postgresAddress(pair.primary.url), delayMs: DELAY_MS });
    toReplica = await startLatencyProxy({ to: postgresAddress(pair.replica.url), delayMs: DELAY_MS });
    await pair.primary.query('CREATE TABLE trips (id serial PRIMARY KEY, v text NOT NULL)');
  });
  afterAll(async () => {
    await toPrimary?.close();
    await toReplica?.close();
    await pair?.remove();
  });

  /** Round trips per run on each server, after one run to warm the connections up. */
  async function roundTripsOf(run: (i: number) => PromiseLike<unknown>): Promise<{ primary: number; replica: number }> {
    await run(-1);
    const before = { primary: toPrimary.roundTrips(), replica: toReplica.roundTrips() };
    for (let i = 0; i < RUNS; i++) await run(i);
    return {
      primary: (toPrimary.roundTrips() - before.primary) / RUNS,
      replica: (toReplica.roundTrips() - before.replica) / RUNS,
    };
  }

  it('commits with as many round trips as on one database: the position goes in the pipeline of the COMMIT', async () => {
    const replicated = new AccessBroker({
      primary: throughProxy(pair.primary.url, toPrimary),
      replicas: [throughProxy(pair.replica.url, toReplica)],
    });
    const plain = new AccessBroker(`${throughProxy(pair.primary.url, toPrimary)}?application_name=plain`);
    try {
      await Promise.all([replicated.waitUntilRunning(), plain.waitUntilRunning()]);
      // Each run waits for its consistency token too: the position comes in the COMMIT's round trip (a run
      // that went on at once could write its next statements before that answer came, which the proxy
      // would count as a round trip of its own, though nothing waited for it).
      const transaction = (b: AccessBroker) => async (i: number) => {
        await b.transact(async (tx) => {
          await tx.query('INSERT INTO trips (v) VALUES ($1)', [`t${i}`]);
          await tx.query('UPDATE trips SET v = v WHERE id = 1');
        });
        return b.consistencyToken();
      };
      const autocommit = (b: AccessBroker) => async (i: number) => {
        await b.query('INSERT INTO trips (v) VALUES ($1)', [`a${i}`]);
        return b.consistencyToken();
      };
      expect(await roundTripsOf(transaction(replicated))).toEqual(await roundTripsOf(transaction(plain)));
      expect(await roundTripsOf(transaction(replicated))).toEqual({ primary: 3, replica: 0 });
      expect(await roundTripsOf(autocommit(replicated))).toEqual({ primary: 1, replica: 0 });
      // A read with nothing to wait for (the replica known to have replayed the last commit): one round trip, on the replica.
      await replicated.query(WHERE);
      const read = () => replicated.query(WHERE);
      expect(await roundTripsOf(read)).toEqual({ primary: 0, replica: 1 });
    } finally {
      await Promise.all([replicated.shutdown(), plain.shutdown()]);
    }
  });
});
