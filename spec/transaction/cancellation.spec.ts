import { getEventListeners } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from '../support/brokers';
import { allTargets } from '../support/targets';

/** A statement that runs for seconds unless interrupted. */
function slowSql(b: ItemsBroker): string {
  return b.dialect === 'postgres'
    ? 'SELECT pg_sleep(30)'
    : 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
}

/** Fills every transaction slot until the returned function is called. */
async function holdSlots(b: ItemsBroker): Promise<() => Promise<void>> {
  const gate = latch();
  const held: Promise<unknown>[] = [];
  for (let i = 0; i < (b.dialect === 'postgres' ? 8 : 1); i++) {
    const running = latch();
    held.push(lastValueFrom(b.transact(async () => (running.resolve(), gate.promise))));
    await running.promise;
  }
  return async () => {
    gate.resolve();
    await Promise.all(held);
  };
}

describe.each(allTargets)('cancelling transactions with signal and timeout [$name]', (t) => {
  it('fails at once, without running, when the signal is already aborted', () =>
    withItems(t, async (b) => {
      const work = jest.fn();
      const controller = new AbortController();
      controller.abort(new Error('caller gave up'));
      const error = await lastValueFrom(b.transact(work, { signal: controller.signal })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionError);
      expect((error as Error).message).toMatch(/cancelled before it ran: caller gave up/);
      expect(work).not.toHaveBeenCalled();
    }));

  it('drops queued work whose signal aborts, and it never runs', () =>
    withItems(t, async (b) => {
      const release = await holdSlots(b);
      const work = jest.fn();
      const controller = new AbortController();
      const result = lastValueFrom(b.transact(work, { signal: controller.signal })).catch((e: unknown) => e);
      controller.abort();
      expect(await result).toBeInstanceOf(TransactionError);
      await release();
      await b.drain();
      expect(work).not.toHaveBeenCalled();
    }));

  it('rolls back running work whose signal aborts, and reports it after the rollback', () =>
    withItems(t, async (b) => {
      const controller = new AbortController();
      const inserted = latch();
      const result = lastValueFrom(
        b.transact(
          async (tx) => {
            await tx.query(b.insertSql(), ['aborted']);
            inserted.resolve();
            await new Promise(() => undefined);
          },
          { signal: controller.signal },
        ),
      ).catch((e: unknown) => e);
      await inserted.promise;
      controller.abort(new Error('stop'));
      const error = (await result) as TransactionError;
      expect(error).toBeInstanceOf(TransactionError);
      expect(error.message).toMatch(/cancelled and rolled back: stop/);
      expect(await b.names()).toEqual([]);
      await b.drain();
      expectPoolWhole(b);
    }));

  it('interrupts a long statement when the timeout passes, rolls back, and keeps serving', () =>
    withItems(t, async (b) => {
      const started = Date.now();
      const error = (await lastValueFrom(
        b.transact(
          async (tx) => {
            await tx.query(b.insertSql(), ['timed out']);
            await tx.query(slowSql(b));
          },
          { timeout: 300 },
        ),
      ).catch((e: unknown) => e)) as TransactionError;
      expect(error).toBeInstanceOf(TransactionError);
      expect((error.cause as Error).name).toBe('TimeoutError');
      // Interrupted, not waited out (the statement would run for many seconds).
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(await b.names()).toEqual([]);
      await b.drain();
      expectPoolWhole(b);
      await expect(lastValueFrom(b.query(b.insertSql(), ['after']))).resolves.toBeDefined();
      expect(await b.names()).toEqual(['after']);
    }));

  it('leaves no timer or abort listener behind once transactions with timeout and signal finish', () =>
    withItems(t, async (b) => {
      const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
      const batch = (options: object) =>
        Promise.all(Array.from({ length: 20 }, () => lastValueFrom(b.transact(async () => 1, options))));
      // Open the pool's connections first: pg-pool keeps an idle timer per connection.
      await batch({});
      const before = timers();
      const controller = new AbortController();
      const options = { timeout: 60_000, signal: controller.signal };
      await batch(options);
      await lastValueFrom(b.transact(() => Promise.reject(new Error('x')), options)).catch(() => undefined);
      expect(timers()).toBe(before);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }));
});

describe.each(allTargets)('cancellation at the start of a transaction [$name]', (t) => {
  it('never calls the work of a transaction unsubscribed while it was beginning', () =>
    withItems(t, async (b) => {
      const work = jest.fn();
      // Subscribed on an idle queue, the job starts at once (BEGIN is under way)
      // and is unsubscribed before BEGIN completes.
      b.transact(work).subscribe().unsubscribe();
      await b.drain();
      expect(work).not.toHaveBeenCalled();
      expectPoolWhole(b);
    }));
});
