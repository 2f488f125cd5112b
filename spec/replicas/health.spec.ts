import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { until, within } from '../support/streams';
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
    'fails no read (query, read-only work, stream) while the replica is stopped (%s) under a read load, and sends reads to it again once it is back',
    async (mode) => {
      const broker = new AccessBroker(pair.target());
      try {
        await broker.waitUntilRunning();
        const served = { replica: 0, primary: 0 };
        const failures: unknown[] = [];
        let reading = true;
        // query(), read-only work and a stream in turn (a stream whose replica goes before its first row
        // is read goes on from the primary: see stream-fallback.spec; one whose replica goes once its
        // whole result was read ends as it would have: see faults/cursor-server-stop.spec).
        const reads = [
          async () => (await broker.query<{ replica: boolean }>(WHERE))[0]!.replica,
          () => broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean, { readOnly: true }),
          async () => (await lastValueFrom(broker.stream<{ replica: boolean }>(WHERE).pipe(toArray())))[0]!.replica,
        ];
        const reader = async (_: unknown, n: number) => {
          for (let i = n; reading; i++) {
            try {
              const replica = await reads[i % reads.length]!();
              served[replica ? 'replica' : 'primary']++;
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

  it('takes a replica that lags past maxReplicaLag out of the rotation, and back once it has caught up', async () => {
    const writer = new AccessBroker(pair.target({ maxReplicaWait: 20, maxReplicaLag: 100 }));
    // Another DataSource (another key) on the same replica: its reads wait for none of the writer's commits.
    const reader = new AccessBroker({
      primary: `${pair.primary.url}?application_name=lag`,
      replicas: [pair.replica.url],
    });
    await Promise.all([writer.waitUntilRunning(), reader.waitUntilRunning()]);
    // Each read bounded in real time, so that one that hangs is named instead of a bare Jest timeout.
    const where = async (b: AccessBroker) =>
      (
        await within(
          lastValueFrom(b.query<{ replica: boolean }>(WHERE)),
          `a read of the ${b === writer ? 'writer' : 'reader'}`,
        )
      )[0]!.replica
        ? 'replica'
        : 'primary';
    const time = installVirtualClock();
    // A read of the writer may wait for the replica to replay its commit: a poll takes real time, the
    // pause between polls virtual time, which moves on only while the read waits.
    const writerReads = async () => {
      let reading = true;
      const read = where(writer).finally(() => (reading = false));
      while (reading) await time.advance(1);
      return read;
    };
    try {
      expect(await where(reader)).toBe('replica');
      await pair.replica.query('SELECT pg_wal_replay_pause()');
      await writer.query('CREATE TABLE lagging (id int)');
      // Each read of the writer waits 20 ms (virtual) for the paused replica, then reads on the primary;
      // once the replica has been behind for more than 100 ms it leaves the rotation, which the reader
      // (it needs nothing replayed) sees: it reads on the primary too.
      let out = false;
      for (let i = 0; i < 20 && !out; i++) {
        expect(await writerReads()).toBe('primary');
        out = (await where(reader)) === 'primary';
      }
      expect(out).toBe(true);
      // After its backoff a check takes it back (it is in recovery and answers), replay paused or not.
      await time.advance(5000);
      await until(async () => (await where(reader)) === 'replica', 'the replica is back in the rotation');
      // Back in the rotation but behind the writer's commit: the writer's reads poll it until it has
      // replayed that, and then read there.
      await pair.replica.query('SELECT pg_wal_replay_resume()');
      await until(async () => (await writerReads()) === 'replica', "the writer's reads go to the replica again");
    } finally {
      time.uninstall();
      await pair.replica.query('SELECT pg_wal_replay_resume()');
      await Promise.all([writer.shutdown(), reader.shutdown()]);
    }
  });
});
