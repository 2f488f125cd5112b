import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { expectPoolWhole, ItemsBroker, latch } from '../support/brokers';
import { createCluster, pgClusterAvailable, type PgCluster } from '../support/pg-cluster';
import { until } from '../support/streams';

/** The bound: the caller hears of a timeout or abort within 250 ms of it. */
const WITHIN = 250;

/** How long after `start` `promise` rejected, and with what. */
async function rejection(promise: Promise<unknown>, start: number): Promise<{ error: unknown; after: number }> {
  try {
    await promise;
  } catch (error) {
    return { error, after: Date.now() - start };
  }
  throw new Error('expected a rejection, got a value');
}

/**
 * A server frozen with SIGSTOP (the private cluster's postmaster and
 * backends) answers nothing: a timeout or an abort must still end the
 * caller's wait at its deadline, the frozen connection is destroyed rather
 * than waited on, and once the server thaws the pool is whole and the broker
 * serves.
 */
(pgClusterAvailable ? describe : describe.skip)('a frozen server and timeout or abort [postgres]', () => {
  let cluster: PgCluster;
  let broker: ItemsBroker;
  beforeAll(async () => {
    cluster = await createCluster();
    broker = new ItemsBroker(cluster.url);
    await broker.waitUntilRunning();
  });
  afterAll(async () => {
    cluster?.thaw();
    await broker?.shutdown();
    await cluster?.remove();
  });
  afterEach(() => cluster.thaw());

  /** After a thaw: every connection back (or replaced), and a write commits. */
  async function servesAgain(): Promise<void> {
    cluster.thaw();
    await until(() => broker.connectionStats().idle === broker.connectionStats().open, 'the pool is whole');
    await lastValueFrom(broker.query(broker.insertSql(), ['after']));
    expect(await broker.names()).toContain('after');
    expectPoolWhole(broker);
  }

  it('a timeout ends the wait at its deadline when the server freezes mid-statement [postgres]', async () => {
    const start = Date.now();
    const work = lastValueFrom(
      broker.transact(
        async (tx) => {
          await tx.query(broker.insertSql(), ['frozen']);
          cluster.freeze();
          await tx.query('SELECT 1');
        },
        { timeout: 1000 },
      ),
    );
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).message).toMatch(/timed out after 1000 ms/);
    expect(after).toBeLessThan(1000 + WITHIN);
    await servesAgain();
    expect(await broker.names()).not.toContain('frozen');
  });

  it('a timeout ends the wait when the work awaits something else and the server is frozen (no ROLLBACK waited on) [postgres]', async () => {
    const start = Date.now();
    const work = lastValueFrom(
      broker.transact(
        async (tx) => {
          await tx.query(broker.insertSql(), ['idle-frozen']);
          cluster.freeze();
          await new Promise((r) => setTimeout(r, 3000));
        },
        { timeout: 800 },
      ),
    );
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect(after).toBeLessThan(800 + WITHIN);
    // The slot is given back once the frozen connection is destroyed, not when the server thaws.
    await until(() => broker.connectionStats().open === broker.connectionStats().idle, 'the connection destroyed');
    await servesAgain();
    expect(await broker.names()).not.toContain('idle-frozen');
  });

  it('a timeout while COMMIT waits on a frozen server says whether it committed is unknown [postgres]', async () => {
    const start = Date.now();
    const work = lastValueFrom(
      broker.transact(
        async (tx) => {
          await tx.query(broker.insertSql(), ['committing']);
          // The work returns: COMMIT goes to a server that no longer answers.
          cluster.freeze();
        },
        { timeout: 800 },
      ),
    );
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).message).toMatch(/COMMIT was on the way.*unknown/);
    expect((error as TransactionError).outcomeUnknown).toBe(true);
    expect(after).toBeLessThan(800 + WITHIN);
    await servesAgain();
  });

  it('an abort by signal ends the wait at once while BEGIN waits on a frozen server [postgres]', async () => {
    const controller = new AbortController();
    cluster.freeze();
    const start = Date.now();
    const work = lastValueFrom(broker.transact(() => 'never', { signal: controller.signal }));
    setTimeout(() => controller.abort(new Error('the user gave up')), 500);
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).message).toMatch(/the user gave up/);
    expect(after).toBeLessThan(500 + WITHIN);
    await servesAgain();
  });

  it('a timeout bounds waiting for a new pool connection while the server is frozen [postgres]', async () => {
    // Every idle connection is taken by a transaction of its own, so the next one needs a new connection.
    const stats = broker.connectionStats();
    cluster.freeze();
    const start = Date.now();
    const many = Array.from({ length: stats.idle + 2 }, () =>
      rejection(lastValueFrom(broker.transact(() => 'never', { timeout: 700 })), start),
    );
    for (const { error, after } of await Promise.all(many)) {
      expect(error).toBeInstanceOf(TransactionError);
      expect(after).toBeLessThan(700 + WITHIN);
    }
    await servesAgain();
  });

  it('an aborted stream ends at once while it waits for a new connection to a frozen server [postgres]', async () => {
    // Every idle connection is held by a transaction, so the stream needs a new one.
    const hold = latch();
    const holders = Array.from({ length: broker.connectionStats().idle }, () =>
      lastValueFrom(broker.transact(() => hold.promise)),
    );
    await until(() => broker.connectionStats().idle === 0, 'the idle connections taken');
    cluster.freeze();
    const controller = new AbortController();
    const start = Date.now();
    const next = broker
      .stream(`SELECT * FROM ${broker.itemsTable}`, [], { signal: controller.signal })
      [Symbol.asyncIterator]()
      .next();
    setTimeout(() => controller.abort(new Error('stop waiting')), 500);
    const { error, after } = await rejection(next, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect(after).toBeLessThan(500 + WITHIN);
    hold.resolve();
    cluster.thaw();
    await Promise.all(holders);
    await servesAgain();
  });

  it('an aborted stream ends at once while its read waits on a frozen server [postgres]', async () => {
    await lastValueFrom(broker.query(broker.insertSql(), ['row']));
    const controller = new AbortController();
    const stream = broker.stream(`SELECT * FROM ${broker.itemsTable}`, [], {
      signal: controller.signal,
      batchSize: 1,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    cluster.freeze();
    const start = Date.now();
    const next = iterator.next();
    setTimeout(() => controller.abort(new Error('stop reading')), 500);
    const { error, after } = await rejection(next, start);
    expect(error).toBeInstanceOf(TransactionError);
    expect(after).toBeLessThan(500 + WITHIN);
    await servesAgain();
  });
});
