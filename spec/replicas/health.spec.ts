import { AccessBroker } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { until } from '../support/streams';
import { installVirtualClock } from '../support/virtual-clock';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/** Concurrent read loops while the replica goes away and comes back. */
const READERS = 6;

(pgClusterAvailable ? describe : describe.skip)('replicated target: replica health [postgres]', () => {
  let pair: ReplicaPair;
  beforeAll(async () => {
    pair = await createReplicaPair();
  });
  afterAll(async () => {
    await pair?.remove();
  });

  it.each(['fast', 'immediate'] as const)(
    'fails no read while the replica is stopped (%s) under a read load, and sends reads to it again once it is back',
    async (mode) => {
      const broker = new AccessBroker(pair.target());
      try {
        await broker.waitUntilRunning();
        const served = { replica: 0, primary: 0 };
        const failures: unknown[] = [];
        let reading = true;
        const reader = async () => {
          while (reading) {
            try {
              const [row] = await broker.query<{ replica: boolean }>(WHERE);
              served[row!.replica ? 'replica' : 'primary']++;
            } catch (err) {
              failures.push(err);
            }
          }
        };
        const readers = Array.from({ length: READERS }, reader);
        try {
          await until(() => served.replica >= 50, 'reads run on the replica');
          await pair.replica.stop({ mode });
          const before = served.primary;
          await until(() => served.primary >= before + 200, 'reads run on the primary');
          await pair.replica.start();
          // The replica is checked again after a backoff (at most 5 s): reads come back to it then.
          const back = served.replica;
          await until(() => served.replica >= back + 50, 'reads run on the replica again', 20_000);
        } finally {
          reading = false;
          await Promise.all(readers);
        }
        expect(failures).toEqual([]);
      } finally {
        await broker.shutdown();
      }
    },
  );

  it('starts with the replica down, reads on the primary, and takes the replica in once it is up', async () => {
    await pair.replica.stop();
    const broker = new AccessBroker(pair.target());
    try {
      const [row] = await broker.query<{ replica: boolean }>(WHERE);
      expect(row!.replica).toBe(false);
      await pair.replica.start();
      await until(
        async () => (await broker.query<{ replica: boolean }>(WHERE))[0]!.replica,
        'a read runs on the replica',
        20_000,
      );
    } finally {
      await broker.shutdown();
    }
  });

  it('checks a failed replica again only after its backoff (on the clock), then takes it back', async () => {
    const broker = new AccessBroker(pair.target());
    const time = installVirtualClock();
    try {
      const where = async () => ((await broker.query<{ replica: boolean }>(WHERE))[0]!.replica ? 'replica' : 'primary');
      expect(await where()).toBe('replica');
      await pair.replica.stop();
      expect(await where()).toBe('primary');
      await pair.replica.start();
      // Up again, but its backoff (100 ms of virtual time) has not passed: nobody looks at it yet.
      for (let i = 0; i < 5; i++) expect(await where()).toBe('primary');
      await time.advance(100);
      // The next read asks for a check (in the background; that read runs on the primary), then reads come back.
      await until(async () => (await where()) === 'replica', 'a read runs on the replica again');
    } finally {
      time.uninstall();
      await broker.shutdown();
    }
  });
});
