import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

(pgClusterAvailable ? describe : describe.skip)('replicated target: routing [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  beforeAll(async () => {
    pair = await createReplicaPair();
    broker = new AccessBroker(pair.target());
    await broker.waitUntilRunning();
    await broker.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
  });
  afterAll(async () => {
    await broker?.shutdown();
    await pair?.remove();
  });

  it('runs a read on the replica and a write on the primary', async () => {
    const [read] = await broker.query<{ replica: boolean }>(WHERE);
    expect(read!.replica).toBe(true);
    const [written] = await broker.query<{ replica: boolean }>(
      "WITH w AS (INSERT INTO notes (body) VALUES ('a') RETURNING id) SELECT pg_is_in_recovery() AS replica FROM w",
    );
    expect(written!.replica).toBe(false);
  });

  it("runs a read with { route: 'primary' } and every transaction on the primary", async () => {
    const [forced] = await broker.query<{ replica: boolean }>(WHERE, [], { route: 'primary' });
    expect(forced!.replica).toBe(false);
    const inTx = await broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean);
    expect(inTx).toBe(false);
    // A read inside a transaction joins it, on the primary.
    const joined = await broker.transact(async () => (await broker.query<{ replica: boolean }>(WHERE))[0]!.replica);
    expect(joined).toBe(false);
  });

  it('runs read-only work on the replica, and a stream there', async () => {
    const ro = await broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean, { readOnly: true });
    expect(ro).toBe(true);
    const rows = await lastValueFrom(broker.stream<{ replica: boolean }>(WHERE).pipe(toArray()));
    expect(rows).toEqual([{ replica: true }]);
  });

  it('reads its own write at once, on whichever server has it', async () => {
    for (let i = 0; i < 50; i++) {
      const [row] = await broker.query<{ id: number }>('INSERT INTO notes (body) VALUES ($1) RETURNING id', [`n${i}`]);
      const rows = await broker.query<{ body: string }>('SELECT body FROM notes WHERE id = $1', [row!.id]);
      expect(rows).toEqual([{ body: `n${i}` }]);
    }
  });
});
