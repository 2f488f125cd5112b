import { getEventListeners } from 'node:events';
import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { CancelledError, SasyncError, TimeoutError, TransactionError } from '../../lib';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from '../support/brokers';
import { statementRunning } from '../support/running-statement';
import { allTargets } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

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

/** Runs `fn` with every slot held, and lets them go whatever `fn` does. */
async function whileQueued<T>(b: ItemsBroker, fn: () => Promise<T>): Promise<T> {
  const release = await holdSlots(b);
  try {
    return await fn();
  } finally {
    await release();
  }
}

/** Work that writes a row, says so, and then waits for ever (until it is cancelled). */
function insertAndHang(b: ItemsBroker, name: string, inserted: { resolve: () => void }) {
  return async (tx: EntityManager) => {
    await tx.query(b.insertSql(), [name]);
    inserted.resolve();
    await new Promise(() => undefined);
  };
}

/** The reason of the platform's `AbortSignal.timeout()` once it fires. */
function platformTimeout(): DOMException {
  return new DOMException('The operation was aborted due to timeout', 'TimeoutError');
}

describe.each(allTargets)('cancelling transactions with signal and timeout [$name]', (t) => {
  it('fails at once with CancelledError, without running, when the signal is already aborted', () =>
    withItems(t, async (b) => {
      const work = jest.fn();
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      controller.abort(reason);
      const error = await lastValueFrom(b.transact(work, { signal: controller.signal })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ cause: reason, attempts: 0, outcomeUnknown: false });
      expect((error as Error).message).toMatch(/cancelled before it ran: caller gave up/);
      expect(work).not.toHaveBeenCalled();
    }));

  it('drops queued work whose signal aborts, and it never runs', () =>
    withItems(t, async (b) => {
      const work = jest.fn();
      const controller = new AbortController();
      const error = await whileQueued(b, () => {
        const result = lastValueFrom(b.transact(work, { signal: controller.signal })).catch((e: unknown) => e);
        controller.abort();
        return result;
      });
      expect(error).toBeInstanceOf(CancelledError);
      await b.drain();
      expect(work).not.toHaveBeenCalled();
    }));

  it('rolls back running work whose signal aborts, and reports it with CancelledError', () =>
    withItems(t, async (b) => {
      const controller = new AbortController();
      const inserted = latch();
      const result = lastValueFrom(
        b.transact(insertAndHang(b, 'aborted', inserted), { signal: controller.signal, name: 'save' }),
      ).catch((e: unknown) => e);
      await inserted.promise;
      const reason = new Error('stop');
      controller.abort(reason);
      const error = (await result) as CancelledError;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      expect(error.message).toBe('transaction save was cancelled and rolled back: stop');
      expect(error).toMatchObject({ cause: reason, method: 'save', dialect: b.dialect, attempts: 1 });
      expect(error.outcomeUnknown).toBe(false);
      expect(await b.names()).toEqual([]);
      await b.drain();
      expectPoolWhole(b);
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

  it('puts one listener on a signal that many transactions share, however many run or wait', () =>
    withItems(t, async (b) => {
      // The count itself is the check (Node warns with MaxListenersExceededWarning past 10, but
      // process.on('warning') inside a Jest spec listens on the sandbox's process, which never hears it).
      const controller = new AbortController();
      const gate = latch();
      const first = latch();
      const all = Array.from({ length: 20 }, () =>
        lastValueFrom(b.transact(async () => (first.resolve(), gate.promise), { signal: controller.signal })),
      );
      await first.promise;
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
      gate.resolve();
      await Promise.all(all);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    }));
});

describe.each(allTargets)('a timeout, on the clock [$name]', (t) => {
  const clock = useVirtualClock();

  it('interrupts a long statement when the timeout passes, rolls back, and keeps serving', () =>
    withItems(t, async (b) => {
      const running = latch<Promise<void>>();
      const result = lastValueFrom(
        b.transact(
          async (tx) => {
            await tx.query(b.insertSql(), ['timed out']);
            running.resolve(statementRunning(tx, b.dialect, slowSql(b)));
            await tx.query(slowSql(b));
          },
          { timeout: 300 },
        ),
      ).catch((e: unknown) => e);
      await await running.promise;
      const cancelledAt = Date.now();
      await clock.current.advance(300);
      const error = (await result) as TimeoutError;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error.timeout).toBe(300);
      expect((error.cause as Error).name).toBe('TimeoutError');
      await b.drain();
      // Interrupted, not waited out (the statement would run for many seconds).
      expect(Date.now() - cancelledAt).toBeLessThan(10_000);
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
      await expect(lastValueFrom(b.query(b.insertSql(), ['after']))).resolves.toBeDefined();
      expect(await b.names()).toEqual(['after']);
    }));

  it('fails queued work with TimeoutError when its timeout runs out, not before, and never runs it', () =>
    withItems(t, async (b) => {
      const work = jest.fn();
      const error = await whileQueued(b, async () => {
        let settled = false;
        const result = lastValueFrom(b.transact(work, { timeout: 500, name: 'queued' }))
          .catch((e: unknown) => e)
          .finally(() => (settled = true));
        await clock.current.advance(499);
        expect(settled).toBe(false);
        await clock.current.advance(1);
        expect(settled).toBe(true);
        return result;
      });
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).toBeInstanceOf(SasyncError);
      expect(error).not.toBeInstanceOf(TransactionError);
      expect(error).toMatchObject({ name: 'TimeoutError', timeout: 500, method: 'queued', attempts: 0 });
      expect((error as Error).message).toMatch(
        /^transaction queued was cancelled before it ran: timed out after 500 ms .*raise timeout/,
      );
      await b.drain();
      expect(work).not.toHaveBeenCalled();
    }));

  it('rolls back running work with TimeoutError when its timeout runs out', () =>
    withItems(t, async (b) => {
      const inserted = latch();
      const result = lastValueFrom(
        b.transact(insertAndHang(b, 'running', inserted), { timeout: 500, name: 'running' }),
      ).catch((e: unknown) => e);
      await inserted.promise;
      await clock.current.advance(500);
      const error = (await result) as TimeoutError;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toBeInstanceOf(SasyncError);
      expect(error).toMatchObject({ timeout: 500, method: 'running', dialect: b.dialect, attempts: 1 });
      expect(error.outcomeUnknown).toBe(false);
      expect(error.message).toMatch(/^transaction running was cancelled and rolled back: timed out after 500 ms/);
      await b.drain();
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it("counts the caller's AbortSignal.timeout() as a timeout, queued or running (no limit of sasync's)", () =>
    withItems(t, async (b) => {
      const queued = new AbortController();
      const whileWaiting = await whileQueued(b, () => {
        const result = lastValueFrom(b.transact(() => 1, { signal: queued.signal })).catch((e: unknown) => e);
        queued.abort(platformTimeout());
        return result;
      });
      const running = new AbortController();
      const inserted = latch();
      const result = lastValueFrom(
        b.transact(insertAndHang(b, 'signalled', inserted), { signal: running.signal }),
      ).catch((e: unknown) => e);
      await inserted.promise;
      running.abort(platformTimeout());
      for (const [error, signal] of [
        [whileWaiting, queued.signal],
        [await result, running.signal],
      ] as const) {
        expect(error).toBeInstanceOf(TimeoutError);
        expect(error).toMatchObject({ timeout: undefined, cause: signal.reason });
        expect((error as Error).message).toMatch(/aborted due to timeout/);
      }
      await b.drain();
      expect(await b.names()).toEqual([]);
    }));

  it('fails with CancelledError, not TimeoutError, when a signal aborts before the timeout runs out', () =>
    withItems(t, async (b) => {
      const controller = new AbortController();
      const inserted = latch();
      const result = lastValueFrom(
        b.transact(insertAndHang(b, 'both', inserted), { signal: controller.signal, timeout: 500 }),
      ).catch((e: unknown) => e);
      await inserted.promise;
      await clock.current.advance(499);
      controller.abort(new Error('first'));
      const error = await result;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      await clock.current.advance(1);
      await b.drain();
      expect(clock.current.pending()).toBe(0);
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
