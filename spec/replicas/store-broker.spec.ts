import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker, PersistentDict } from '../../lib';
import { storeAccess } from '../../lib/broker/store-access';
import { pgClusterAvailable } from '../support/pg-cluster';
import { until } from '../support/streams';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/** Values as plain JSON, to write a stored row from outside the process. */
const json = {
  serializer: { encode: (v: unknown) => JSON.stringify(v), decode: (t: string) => JSON.parse(t) as unknown },
};

/** Resolves once the replica has replayed everything the primary has written so far. */
async function replayedAll(pair: ReplicaPair): Promise<void> {
  const [{ lsn }] = (await pair.primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')) as [
    { lsn: string },
  ];
  await until(
    async () =>
      (await pair.replica.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0]!.ok,
    'the replica has replayed everything',
  );
}

(pgClusterAvailable ? describe : describe.skip)(
  'replicated target: what the stores take from a broker [postgres]',
  () => {
    let pair: ReplicaPair;
    beforeAll(async () => {
      pair = await createReplicaPair();
    });
    afterAll(async () => {
      await pair?.replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
      await pair?.remove();
    });

    it("keeps routing the broker's own reads to the replica once a store took what it needs from it", async () => {
      const broker = new AccessBroker(pair.target());
      try {
        await broker.waitUntilRunning();
        const access = broker[storeAccess]();
        expect(access.placeholder(1)).toBe('$1');
        const [read] = await broker.query<{ replica: boolean }>(WHERE);
        expect(read).toEqual({ replica: true });
        expect(await lastValueFrom(broker.stream<{ replica: boolean }>(WHERE).pipe(toArray()))).toEqual([
          { replica: true },
        ]);
        expect(await broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean)).toBe(false);
      } finally {
        await broker.shutdown();
      }
    });

    it("reads a store's rows on the primary, where a row committed by another process is, while the replica is behind", async () => {
      const dict = new PersistentDict<string, number>('outside', pair.target(), json);
      try {
        await dict.set('a', 1);
        // The replica has replayed all the primary has (this process's commits among it): a read routed by the
        // store's broker would go to it without waiting.
        await replayedAll(pair);
        await pair.replica.query('SELECT pg_wal_replay_pause()');
        // Another process's commit: nothing in this process knows its position.
        await pair.primary.query("INSERT INTO sasync_items (group_id, name, value) VALUES ('outside', 'b', '2')");
        expect(await dict.get('b')).toBe(2);
        // The replica was indeed behind.
        expect(await pair.replica.query("SELECT name FROM sasync_items WHERE group_id = 'outside'")).toEqual([
          { name: 'a' },
        ]);
      } finally {
        await pair.replica.query('SELECT pg_wal_replay_resume()');
        await dict.shutdown();
      }
    });

    it("reads a store's rows on the primary from inside read-only work on the replica", async () => {
      const broker = new AccessBroker(pair.target());
      const dict = new PersistentDict<string, number>('inside', pair.target(), json);
      try {
        await dict.set('a', 1);
        await broker.waitUntilRunning();
        await replayedAll(pair);
        await pair.replica.query('SELECT pg_wal_replay_pause()');
        // Another process's commit, which the paused replica has not replayed.
        await pair.primary.query("INSERT INTO sasync_items (group_id, name, value) VALUES ('inside', 'c', '3')");
        const seen = await broker.transact(
          async (tx) => {
            const [where] = (await tx.query(WHERE)) as { replica: boolean }[];
            return { replica: where!.replica, c: await dict.get('c') };
          },
          { readOnly: true },
        );
        // The work ran on the replica; the store's read, in its async context, still went to the primary.
        expect(seen).toEqual({ replica: true, c: 3 });
      } finally {
        await pair.replica.query('SELECT pg_wal_replay_resume()');
        await dict.shutdown();
        await broker.shutdown();
      }
    });
  },
);
