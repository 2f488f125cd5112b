import { lastValueFrom } from 'rxjs';
import { Client, type PoolClient } from 'pg';
import Cursor from 'pg-cursor';
import { DataSource, type EntityManager } from 'typeorm';
import { AccessBroker, CancelledError, ConnectionLostError, TimeoutError, TransactionError } from '../../lib';
import { postgresAddress, startLatencyProxy, throughProxy, type LatencyProxy } from '../../bench/latency-proxy';
import { expectPoolWhole, latch } from '../support/brokers';
import { statementRunning } from '../support/running-statement';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

const describePg = pgAvailable ? describe : describe.skip;

/**
 * Round trips are counted by the bench's latency proxy (a server answer after
 * the client wrote something counts once), 1 ms each way: what the client
 * writes back to back reaches it long before any answer can come back, so
 * the count does not depend on how the kernel splits the writes.
 */
const DELAY_MS = 1;
const TRANSACTIONS = 5;

describePg('BEGIN sent with the first statement [postgres]', () => {
  let proxy: LatencyProxy;
  let b: AccessBroker;
  const table = uniqueName('pipelined');
  const insert = `INSERT INTO ${table} (v) VALUES ($1) RETURNING id`;
  const select = `SELECT v FROM ${table} WHERE id = $1`;

  beforeAll(async () => {
    proxy = await startLatencyProxy({ to: postgresAddress(PG_URL), delayMs: DELAY_MS });
    const setup = new Client({ connectionString: PG_URL });
    await setup.connect();
    await setup.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text NOT NULL UNIQUE)`);
    await setup.end();
  });
  afterAll(async () => {
    const setup = new Client({ connectionString: PG_URL });
    await setup.connect();
    await setup.query(`DROP TABLE IF EXISTS ${table}`);
    await setup.end();
    await proxy.close();
  });
  beforeEach(async () => {
    b = new AccessBroker(throughProxy(PG_URL, proxy));
    await b.waitUntilRunning();
  });
  afterEach(() => b.shutdown());

  /** The small transaction of the bench: INSERT … RETURNING, SELECT by id. */
  async function small(tx: EntityManager, v: string): Promise<string> {
    const [inserted] = (await tx.query(insert, [v])) as { id: number }[];
    const [row] = (await tx.query(select, [inserted!.id])) as { v: string }[];
    return row!.v;
  }

  /** Round trips per call of `run`, over TRANSACTIONS calls after one to warm the connection up. */
  async function roundTripsOf(run: (i: number) => Promise<unknown>): Promise<number> {
    await run(-1);
    const before = proxy.roundTrips();
    for (let i = 0; i < TRANSACTIONS; i++) await run(i);
    return (proxy.roundTrips() - before) / TRANSACTIONS;
  }

  async function names(): Promise<string[]> {
    const rows = (await lastValueFrom(b.query(`SELECT v FROM ${table} ORDER BY v`))) as { v: string }[];
    return rows.map((r) => r.v);
  }

  it('takes 3 round trips for BEGIN, INSERT, SELECT, COMMIT, where TypeORM alone takes 4', async () => {
    const tag = uniqueName('rt');
    const sasync = await roundTripsOf((i) => lastValueFrom(b.transact((tx) => small(tx, `${tag}-s${i}`))));
    const ds = new DataSource({ type: 'postgres', url: throughProxy(PG_URL, proxy), poolSize: 1 });
    await ds.initialize();
    try {
      const typeorm = await roundTripsOf((i) => ds.transaction((tx) => small(tx, `${tag}-t${i}`)));
      expect({ sasync, typeorm }).toEqual({ sasync: 3, typeorm: 4 });
    } finally {
      await ds.destroy();
    }
    expect(await lastValueFrom(b.transact((tx) => small(tx, `${tag}-last`)))).toBe(`${tag}-last`);
  });

  it('sends the isolation level with BEGIN and the first statement, in one round trip', async () => {
    const level = await roundTripsOf(() =>
      lastValueFrom(
        b.transact((tx) => tx.query('SELECT current_setting($1) AS level', ['transaction_isolation']), {
          isolation: 'SERIALIZABLE',
        }),
      ),
    );
    // BEGIN + SET TRANSACTION + SELECT, then COMMIT.
    expect(level).toBe(2);
    const rows = await lastValueFrom(
      b.transact((tx) => tx.query('SELECT current_setting($1) AS level', ['transaction_isolation']), {
        isolation: 'SERIALIZABLE',
      }),
    );
    expect(rows).toEqual([{ level: 'serializable' }]);
  });

  it('sends neither BEGIN nor COMMIT for a transaction that runs no statement', async () => {
    expect(await roundTripsOf(() => lastValueFrom(b.transact(async () => 42)))).toBe(0);
    expect(await lastValueFrom(b.transact(async () => 42))).toBe(42);
    expectPoolWhole(b);
  });

  it('runs statements sent together with the first one in order, in the transaction', async () => {
    const tag = uniqueName('together');
    const got = await lastValueFrom(
      b.transact(async (tx) => {
        const writes = [1, 2, 3].map((n) => tx.query(insert, [`${tag}-${n}`]));
        const count = tx.query(`SELECT count(*)::int AS n FROM ${table} WHERE v LIKE $1`, [`${tag}-%`]);
        const status = tx.query('SELECT now() = statement_timestamp() AS autocommit');
        await Promise.all(writes);
        return { count: await count, status: await status };
      }),
    );
    expect(got).toEqual({ count: [{ n: 3 }], status: [{ autocommit: false }] });
  });

  it("a cursor as the first statement (pg's pipeline mode refuses it) still runs inside the transaction", async () => {
    const got = await lastValueFrom(
      b.transact(async (tx) => {
        // TypeORM's own stream: a pg-query-stream, a cursor on the transaction's client.
        const stream = await tx.queryRunner!.stream('SELECT now() = statement_timestamp() AS autocommit');
        const rows: unknown[] = [];
        for await (const row of stream) rows.push(row);
        return { rows, after: await tx.query('SELECT now() = statement_timestamp() AS autocommit') };
      }),
    );
    expect(got).toEqual({ rows: [{ autocommit: false }], after: [{ autocommit: false }] });
  });

  it('sends statements the work sends together in one round trip', async () => {
    const tag = uniqueName('batch');
    const perTx = await roundTripsOf(async (i) => {
      await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert, [`${tag}-${i}-a`]);
          await Promise.all(['b', 'c', 'd'].map((x) => tx.query(insert, [`${tag}-${i}-${x}`])));
        }),
      );
    });
    // BEGIN + the first INSERT, the three INSERTs, COMMIT.
    expect(perTx).toBe(3);
    expect((await names()).filter((v) => v.startsWith(`${tag}-0-`))).toEqual(
      [0, 1, 2, 3].map((n) => `${tag}-0-${'abcd'[n]}`),
    );
  });

  it('a statement failing among those sent together rolls back and is the one named', async () => {
    const tag = uniqueName('together-fails');
    const bad = `INSERT INTO ${table} (v) VALUES (NULL)`;
    const error = await lastValueFrom(
      b.transact(async (tx) => {
        await tx.query(insert, [`${tag}-a`]);
        await Promise.all([tx.query(insert, [`${tag}-b`]), tx.query(bad), tx.query(insert, [`${tag}-c`])]);
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ sql: bad, code: '23502' });
    expect((await names()).filter((v) => v.startsWith(tag))).toEqual([]);
    expectPoolWhole(b);
  });

  it('the first statement (sent with BEGIN) failing among those sent together is the one named, not the 25P02 behind it', async () => {
    const tag = uniqueName('first-together');
    const bad = `INSERT INTO ${table} (v) VALUES (NULL)`;
    const error = await lastValueFrom(
      b.transact(async (tx) => {
        await Promise.all([tx.query(bad), tx.query(insert, [`${tag}-b`]), tx.query(insert, [`${tag}-c`])]);
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ sql: bad, code: '23502' });
    expect((await names()).filter((v) => v.startsWith(tag))).toEqual([]);
    expectPoolWhole(b);
    // Without the proxy every answer comes in one read: the 25P02s settle in the same turn as the error.
    const direct = new AccessBroker(PG_URL);
    try {
      for (let i = 0; i < 20; i++) {
        const failed = await lastValueFrom(
          direct.transact(async (tx) => {
            await Promise.all([
              tx.query('SELECT 1 / $1::int AS x', [0]),
              tx.query('SELECT 2 AS y'),
              tx.query('SELECT 3 AS z'),
            ]);
          }),
        ).catch((e: unknown) => e);
        expect(failed).toMatchObject({ sql: 'SELECT 1 / $1::int AS x', code: '22012' });
      }
    } finally {
      await direct.shutdown();
    }
  });

  it('a cursor opened while statements are on the wire goes out after them, and sees their writes', async () => {
    const tag = uniqueName('cursor-after');
    const got = await lastValueFrom(
      b.transact(async (tx) => {
        await tx.query(insert, [`${tag}-a`]);
        // On the client itself: TypeORM's runner would send the cursor before the INSERTs.
        const client = (tx.queryRunner as unknown as { databaseConnection: PoolClient }).databaseConnection;
        const writes = Promise.all(['b', 'c'].map((x) => client.query(insert, [`${tag}-${x}`])));
        const cursor = client.query(new Cursor(`SELECT v FROM ${table} WHERE v LIKE $1 ORDER BY v`, [`${tag}-%`]));
        const rows = await cursor.read(10);
        await cursor.close();
        const after = await client.query('SELECT 1 AS one');
        await writes;
        return { rows, after: after.rows };
      }),
    );
    expect(got).toEqual({ rows: ['a', 'b', 'c'].map((x) => ({ v: `${tag}-${x}` })), after: [{ one: 1 }] });
  });

  it('a failing first statement rolls back and names that statement; the broker keeps serving', async () => {
    const tag = uniqueName('first');
    const bad = `INSERT INTO ${table} (v) VALUES (NULL) RETURNING id`;
    const error = await lastValueFrom(
      b.transact(async (tx) => {
        await tx.query(bad);
        await tx.query(insert, [`${tag}-never`]);
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ sql: bad, code: '23502' });
    expect(await names()).not.toContain(`${tag}-never`);
    expectPoolWhole(b);
    expect(await lastValueFrom(b.transact((tx) => small(tx, `${tag}-after`)))).toBe(`${tag}-after`);
  });

  it('a failing second statement rolls back the first and names the second', async () => {
    const tag = uniqueName('second');
    const error = await lastValueFrom(
      b.transact(async (tx) => {
        await tx.query(insert, [`${tag}-first`]);
        await tx.query(insert, [`${tag}-first`]);
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ sql: insert, code: '23505' });
    expect(await names()).not.toContain(`${tag}-first`);
    expectPoolWhole(b);
  });

  it('a connection lost before BEGIN went out fails as a lost connection, and is re-run with retry', async () => {
    const tag = uniqueName('lost');
    let attempts = 0;
    const work = async (tx: EntityManager) => {
      if (attempts++ === 0) await terminateOwnBackend(tx);
      return small(tx, tag);
    };
    const error = await lastValueFrom(b.transact(work)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
    expect(await names()).not.toContain(tag);
    attempts = 0;
    expect(await lastValueFrom(b.transact(work, { retry: 1 }))).toBe(tag);
    expect(attempts).toBe(2);
  });
});

describePg('BEGIN sent with the first statement: cancellation [postgres]', () => {
  const clock = useVirtualClock();
  let b: AccessBroker;
  beforeEach(async () => {
    b = new AccessBroker(PG_URL);
    await b.waitUntilRunning();
  });
  afterEach(() => b.shutdown());

  const slow = 'SELECT pg_sleep(30)';

  /** Work whose first statement (sent with BEGIN) runs until interrupted; `running` says when it runs. */
  function slowFirst(running: { resolve: (p: Promise<void>) => void }) {
    return async (tx: EntityManager) => {
      running.resolve(statementRunning(tx, 'postgres', slow));
      await tx.query(slow);
    };
  }

  it('a timeout interrupts the first statement sent with BEGIN, rolls back, and keeps serving', async () => {
    const running = latch<Promise<void>>();
    const result = lastValueFrom(b.transact(slowFirst(running), { timeout: 300 })).catch((e: unknown) => e);
    await await running.promise;
    const cancelledAt = Date.now();
    await clock.current.advance(300);
    const error = await result;
    expect(error).toBeInstanceOf(TimeoutError);
    await b.drain();
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expectPoolWhole(b);
    expect(await lastValueFrom(b.transact((tx) => tx.query('SELECT 1 AS one')))).toEqual([{ one: 1 }]);
  });

  it("the caller's signal interrupts the first statement sent with BEGIN", async () => {
    const running = latch<Promise<void>>();
    const controller = new AbortController();
    const result = lastValueFrom(b.transact(slowFirst(running), { signal: controller.signal })).catch(
      (e: unknown) => e,
    );
    await await running.promise;
    const cancelledAt = Date.now();
    controller.abort();
    expect(await result).toBeInstanceOf(CancelledError);
    await b.drain();
    expect(Date.now() - cancelledAt).toBeLessThan(10_000);
    expectPoolWhole(b);
    expect(await lastValueFrom(b.transact((tx) => tx.query('SELECT 1 AS one')))).toEqual([{ one: 1 }]);
  });
});

/** Ends the transaction's own backend (before its first statement), and waits until its client has seen it. */
async function terminateOwnBackend(tx: EntityManager): Promise<void> {
  const client = (tx.queryRunner as unknown as { databaseConnection: Client & { processID: number } })
    .databaseConnection;
  const ended = new Promise((resolve) => client.once('end', resolve));
  const killer = new Client({ connectionString: PG_URL });
  await killer.connect();
  try {
    await killer.query('SELECT pg_terminate_backend($1, 5000)', [client.processID]);
  } finally {
    await killer.end();
  }
  await ended;
}
