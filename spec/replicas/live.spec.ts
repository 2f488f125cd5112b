import pg from 'pg';
import { AccessBroker } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { probe } from '../live/support/probe';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/**
 * A live query on a replicated target reads on the primary: the change it
 * is told of may not have reached a replica yet, and a re-run there could
 * miss it for good. Its broker goes on reading on the replica.
 */
(pgClusterAvailable ? describe : describe.skip)('replicated target: live queries [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  beforeAll(async () => {
    pair = await createReplicaPair();
    broker = new AccessBroker({ primary: pair.primary.url, replicas: [pair.replica.url] });
    await broker.waitUntilRunning();
    await broker.query('CREATE TABLE live_notes (id integer PRIMARY KEY, body text NOT NULL)');
  });
  afterAll(async () => {
    await broker?.shutdown();
    await pair?.remove();
  });

  it("sees every commit at once, replay paused on the replica, and leaves the broker's reads on the replica", async () => {
    const live = probe(
      broker.live<{ id: number; body: string }>('SELECT id, body FROM live_notes ORDER BY id', [], { key: 'id' }),
    );
    await live.next('the first result');
    // The replica stops replaying: a re-run there would not see what follows.
    await pair.replica.query('SELECT pg_wal_replay_pause()');
    try {
      const next = live.next('the outside insert');
      const outside = new pg.Client({ connectionString: pair.primary.url });
      await outside.connect();
      try {
        await outside.query("INSERT INTO live_notes (id, body) VALUES (1, 'from another program')");
      } finally {
        await outside.end();
      }
      expect((await next).rows).toEqual([{ id: 1, body: 'from another program' }]);
    } finally {
      await pair.replica.query('SELECT pg_wal_replay_resume()');
    }
    const [read] = await broker.query<{ replica: boolean }>(WHERE);
    expect(read!.replica).toBe(true);
    live.subscription.unsubscribe();
  });
});
