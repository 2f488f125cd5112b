import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker, DatabaseError, ReadOnlyError } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { readCounter, until } from '../support/streams';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

const APP = 'routing-replica';

/** The replica's sessions of the broker that are in a transaction or running a statement. */
async function busyOnReplica(pair: ReplicaPair): Promise<number> {
  const rows = await pair.replica.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
    [APP],
  );
  return rows[0]!.n;
}

(pgClusterAvailable ? describe : describe.skip)('replicated target: routing [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  beforeAll(async () => {
    pair = await createReplicaPair();
    // The replica's sessions are named, to see what the streams leave open there.
    // Tests here say where a read runs: on a loaded machine a replica may take longer than the default wait to
    // replay a write, and the read would go to the primary.
    broker = new AccessBroker({
      primary: pair.primary.url,
      replicas: [`${pair.replica.url}?application_name=${APP}`],
      maxReplicaWait: 30_000,
    });
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

  it('streams on the replica only as fast as rows are consumed, and gives its connection back', async () => {
    await broker.query('CREATE TABLE many AS SELECT g AS id FROM generate_series(1, 5000) g');
    // Replayed there once a read through this broker sees it there (the broker waits for its own commit).
    const read = readCounter();
    let handled = 0;
    let lead = 0;
    let onReplica: boolean | undefined;
    for await (const row of broker.stream<{ id: number; replica: boolean }>(
      'SELECT id, pg_is_in_recovery() AS replica FROM many ORDER BY id',
      [],
      { batchSize: 100, onBatch: read.onBatch },
    )) {
      onReplica ??= row.replica;
      lead = Math.max(lead, read.rows - handled);
      await new Promise((resolve) => setImmediate(resolve));
      if (++handled === 1234) break;
    }
    expect(onReplica).toBe(true);
    expect(lead).toBeLessThanOrEqual(200);
    expect(read.rows).toBeLessThanOrEqual(1234 + 200);
    await until(async () => (await busyOnReplica(pair)) === 0, 'no session of the broker is busy on the replica');
  });

  it('refuses a primary given as a replica at start-up, with a DatabaseError that says so', async () => {
    const wrong = new AccessBroker({ primary: pair.replica.url, replicas: [pair.primary.url] });
    try {
      const error = await wrong.waitUntilRunning().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as Error).message).toMatch(/is not a replica: pg_is_in_recovery\(\) is false there/);
      await expect(wrong.query('SELECT 1')).rejects.toThrow(/is not a replica/);
    } finally {
      await wrong.shutdown();
    }
  });

  it('fails read-only work that writes with ReadOnlyError, on the replica, writing nothing anywhere', async () => {
    const error = await broker
      .transact((tx) => tx.query("INSERT INTO notes (body) VALUES ('ro') RETURNING pg_is_in_recovery()"), {
        readOnly: true,
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(ReadOnlyError);
    expect(error).toMatchObject({ code: '25006', inTransaction: true });
    expect(
      await broker.query("SELECT count(*)::int AS n FROM notes WHERE body = 'ro'", [], { route: 'primary' }),
    ).toEqual([{ n: 0 }]);
  });

  it("runs a write sent to a replica with { route: 'replica' } on the primary once the replica refuses it", async () => {
    const [row] = await broker.query<{ replica: boolean }>(
      "WITH w AS (INSERT INTO notes (body) VALUES ('forced') RETURNING id) SELECT pg_is_in_recovery() AS replica FROM w",
      [],
      { route: 'replica' },
    );
    expect(row!.replica).toBe(false);
    // Its commit is known like any other: read at once, it is there.
    expect(await broker.query("SELECT count(*)::int AS n FROM notes WHERE body = 'forced'")).toEqual([{ n: 1 }]);
  });

  it('runs a prepared read on the replica and a prepared write on the primary, the read seeing the write', async () => {
    const add = broker.prepare<{ replica: boolean }>(
      'add_note',
      'WITH w AS (INSERT INTO notes (body) VALUES ($1) RETURNING id) SELECT pg_is_in_recovery() AS replica FROM w',
    );
    const find = broker.prepare<{ body: string; replica: boolean }>(
      'find_note',
      'SELECT body, pg_is_in_recovery() AS replica FROM notes WHERE body = $1',
    );
    expect(broker.prepare('find_note', find.sql)).toBe(find);
    for (let i = 0; i < 20; i++) {
      expect(await add.query([`p${i}`])).toEqual([{ replica: false }]);
      const [row] = await find.query([`p${i}`]);
      expect(row!.body).toBe(`p${i}`);
    }
    expect(await find.query(['p0'])).toEqual([{ body: 'p0', replica: true }]);
    expect(await find.query(['p0'], { route: 'primary' })).toEqual([{ body: 'p0', replica: false }]);
  });

  it('keeps a query() inside read-only work on the replica: a write there fails the work, and never moves to the primary', async () => {
    const error = await broker
      .transact(
        async () => {
          const [here] = await broker.query<{ replica: boolean }>(WHERE);
          expect(here!.replica).toBe(true);
          await broker.query("INSERT INTO notes (body) VALUES ('moved?')");
        },
        { readOnly: true },
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(ReadOnlyError);
    expect(
      await broker.query("SELECT count(*)::int AS n FROM notes WHERE body = 'moved?'", [], { route: 'primary' }),
    ).toEqual([{ n: 0 }]);
  });
});
