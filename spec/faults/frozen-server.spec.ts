import { lastValueFrom } from 'rxjs';
import { CancelledError, TimeoutError } from '../../lib';
import { expectPoolWhole, latch } from '../support/brokers';
import { useClusterBroker } from '../support/cluster-broker';
import { pgClusterAvailable } from '../support/pg-cluster';
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
  const fixture = useClusterBroker();
  afterEach(() => fixture.cluster.thaw());

  /** After a thaw: every connection back (or replaced), and a write commits. */
  async function servesAgain(): Promise<void> {
    fixture.cluster.thaw();
    await until(
      () => fixture.broker.connectionStats().idle === fixture.broker.connectionStats().open,
      'the pool is whole',
    );
    await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), ['after']));
    expect(await fixture.broker.names()).toContain('after');
    expectPoolWhole(fixture.broker);
  }

  it('a timeout ends the wait at its deadline when the server freezes mid-statement [postgres]', async () => {
    const start = Date.now();
    const work = lastValueFrom(
      fixture.broker.transact(
        async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['frozen']);
          fixture.cluster.freeze();
          await tx.query('SELECT 1');
        },
        { timeout: 1000 },
      ),
    );
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeout).toBe(1000);
    expect((error as Error).message).toMatch(/timed out after 1000 ms/);
    expect(after).toBeLessThan(1000 + WITHIN);
    await servesAgain();
    expect(await fixture.broker.names()).not.toContain('frozen');
  });

  it('a timeout ends the wait when the work awaits something else and the server is frozen (no ROLLBACK waited on) [postgres]', async () => {
    const start = Date.now();
    // What the work awaits: let go only after the test has heard of the timeout.
    const elsewhere = latch();
    const work = lastValueFrom(
      fixture.broker.transact(
        async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['idle-frozen']);
          fixture.cluster.freeze();
          await elsewhere.promise;
        },
        { timeout: 800 },
      ),
    );
    const { error, after } = await rejection(work, start);
    elsewhere.resolve();
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).outcomeUnknown).toBe(false);
    expect(after).toBeLessThan(800 + WITHIN);
    // The slot is given back once the frozen connection is destroyed, not when the server thaws.
    await until(
      () => fixture.broker.connectionStats().open === fixture.broker.connectionStats().idle,
      'the connection destroyed',
    );
    await servesAgain();
    expect(await fixture.broker.names()).not.toContain('idle-frozen');
  });

  it('a timeout while COMMIT waits on a frozen server says whether it committed is unknown [postgres]', async () => {
    const start = Date.now();
    const work = lastValueFrom(
      fixture.broker.transact(
        async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['committing']);
          // The work returns: COMMIT goes to a server that no longer answers.
          fixture.cluster.freeze();
        },
        { timeout: 800 },
      ),
    );
    const { error, after } = await rejection(work, start);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/COMMIT was on the way.*unknown/);
    expect((error as TimeoutError).outcomeUnknown).toBe(true);
    expect(after).toBeLessThan(800 + WITHIN);
    await servesAgain();
  });

  it('an abort by signal ends the wait at once while BEGIN (sent with the first statement) waits on a frozen server [postgres]', async () => {
    fixture.cluster.freeze();
    const start = Date.now();
    // The caller gives up after 500 ms, by a signal of its own. (BEGIN goes out with the first
    // statement: a transaction that sends none needs no server.)
    const work = lastValueFrom(
      fixture.broker.transact((tx) => tx.query('SELECT 1'), { signal: AbortSignal.timeout(500) }),
    );
    const { error, after } = await rejection(work, start);
    // The caller's own AbortSignal.timeout() is a timeout too, of a limit sasync does not know.
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).timeout).toBeUndefined();
    expect((error as Error).message).toMatch(/aborted due to timeout/);
    expect(after).toBeLessThan(500 + WITHIN);
    await servesAgain();
  });

  it('a timeout bounds waiting for a new pool connection while the server is frozen [postgres]', async () => {
    // Every idle connection is taken by a transaction of its own, so the next one needs a new connection.
    const stats = fixture.broker.connectionStats();
    fixture.cluster.freeze();
    const start = Date.now();
    const many = Array.from({ length: stats.idle + 2 }, () =>
      rejection(lastValueFrom(fixture.broker.transact((tx) => tx.query('SELECT 1'), { timeout: 700 })), start),
    );
    for (const { error, after } of await Promise.all(many)) {
      expect(error).toBeInstanceOf(TimeoutError);
      expect(after).toBeLessThan(700 + WITHIN);
    }
    await servesAgain();
  });

  it('an aborted stream ends at once while it waits for a new connection to a frozen server [postgres]', async () => {
    // Every idle connection is held by a transaction, so the stream needs a new one.
    const hold = latch();
    const holders = Array.from({ length: fixture.broker.connectionStats().idle }, () =>
      lastValueFrom(fixture.broker.transact(() => hold.promise)),
    );
    await until(() => fixture.broker.connectionStats().idle === 0, 'the idle connections taken');
    fixture.cluster.freeze();
    // The caller gives up after 500 ms, by a signal of its own.
    const signal = AbortSignal.timeout(500);
    const start = Date.now();
    const next = fixture.broker
      .stream(`SELECT * FROM ${fixture.broker.itemsTable}`, [], { signal })
      [Symbol.asyncIterator]()
      .next();
    try {
      const { error, after } = await rejection(next, start);
      expect(error).toBeInstanceOf(TimeoutError);
      expect(after).toBeLessThan(500 + WITHIN);
    } finally {
      // Whatever happened: held connections left waiting would keep the next tests from the pool.
      hold.resolve();
      fixture.cluster.thaw();
      await Promise.all(holders);
    }
    await servesAgain();
  });

  it('an aborted stream ends at once while its read waits on a frozen server [postgres]', async () => {
    await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), ['row']));
    const controller = new AbortController();
    const stream = fixture.broker.stream(`SELECT * FROM ${fixture.broker.itemsTable}`, [], {
      signal: controller.signal,
      batchSize: 1,
    });
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next();
    fixture.cluster.freeze();
    const start = Date.now();
    const next = iterator.next();
    // The caller gives up 500 ms into the read.
    AbortSignal.timeout(500).addEventListener('abort', () => controller.abort(new Error('stop reading')));
    const { error, after } = await rejection(next, start);
    expect(error).toBeInstanceOf(CancelledError);
    expect(error).not.toBeInstanceOf(TimeoutError);
    expect(after).toBeLessThan(500 + WITHIN);
    await servesAgain();
  });
});
