import { lastValueFrom, Subscription, take, toArray } from 'rxjs';
import { CancelledError, TimeoutError } from '../../lib';
import { latch, withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  releaseCheckedRun,
  expectStreamsReleased,
  fillItems,
  hookedOptions,
  readCounter,
  settle,
  sqliteTempTables,
  type ReadCounter,
  within,
} from '../support/streams';
import { allTargets } from '../support/targets';

const ROWS = 2_000;
const BATCH = 100;

interface Row {
  id: number;
  name: string;
}

// Each way of leaving a stream early closes its cursor (no batch is read
// after it) and gives its connection back (expectStreamsReleased).
describe.each(allTargets)('leaving a row stream early closes the cursor and returns the connection [$name]', (t) => {
  const appName = `sasync-rows-release-${process.pid}`;
  const run = releaseCheckedRun(t, appName, ROWS);
  const stream = (b: ItemsBroker, read: ReadCounter, signal?: AbortSignal) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch, signal });

  /** After leaving: nothing more is read, however long we wait. */
  const expectNoMoreReads = async (b: ItemsBroker, read: ReadCounter, rows = BATCH) => {
    await settle(b);
    expect(read.rows).toBe(rows);
  };

  it('take(3)', () =>
    run(async (b) => {
      const read = readCounter();
      const rows = await lastValueFrom(stream(b, read).pipe(take(3), toArray()));
      expect(rows.map((r) => r.name)).toEqual(['n1', 'n2', 'n3']);
      await expectNoMoreReads(b, read);
    }));

  it('break after 3 rows in for await', () =>
    run(async (b) => {
      const read = readCounter();
      const names: string[] = [];
      for await (const row of stream(b, read)) {
        names.push(row.name);
        if (names.length === 3) break;
      }
      expect(names).toEqual(['n1', 'n2', 'n3']);
      await expectNoMoreReads(b, read);
    }));

  it('an error thrown in the for await body', () =>
    run(async (b) => {
      const read = readCounter();
      const failure = new Error('consumer failed');
      let seen = 0;
      const result = (async () => {
        for await (const _row of stream(b, read)) if (++seen === 3) throw failure;
      })();
      await expect(result).rejects.toBe(failure);
      expect(seen).toBe(3);
      await expectNoMoreReads(b, read);
    }));

  it('an error thrown by a consume() handler (synchronously)', () =>
    run(async (b) => {
      const read = readCounter();
      const failure = new Error('handler failed');
      let seen = 0;
      const result = stream(b, read).consume(() => {
        if (++seen === 3) throw failure;
      });
      await expect(result).rejects.toBe(failure);
      expect(seen).toBe(3);
      await expectNoMoreReads(b, read);
    }));

  it('a consume() handler that rejects, with concurrency 3, in the second batch', () =>
    run(async (b) => {
      const read = readCounter();
      const failure = new Error('handler rejected');
      let calls = 0;
      const result = stream(b, read).consume(
        async (row) => {
          calls++;
          await new Promise((resolve) => setImmediate(resolve));
          if (row.id === BATCH + 5) throw failure;
        },
        { concurrency: 3 },
      );
      await expect(result).rejects.toBe(failure);
      // It stopped calling the handler soon after the failure, and read no third batch.
      expect(calls).toBeLessThan(BATCH + 5 + 3 + 1);
      await expectNoMoreReads(b, read, 2 * BATCH);
    }));

  it('an AbortSignal aborted mid-stream (for await): the loop fails with CancelledError', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      let seen = 0;
      const result = (async () => {
        for await (const _row of stream(b, read, controller.signal)) {
          if (++seen === 3) controller.abort(new Error('enough'));
        }
      })();
      const error = (await result.catch((e: unknown) => e)) as CancelledError;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error.message).toMatch(/cancelled: enough/);
      expect(seen).toBeLessThanOrEqual(BATCH);
      await expectNoMoreReads(b, read);
    }));

  it('an AbortSignal aborted mid-stream (subscribe): the subscriber gets CancelledError', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      let seen = 0;
      const error = await new Promise<unknown>((resolve) => {
        stream(b, read, controller.signal).subscribe({
          next: () => {
            if (++seen === 3) controller.abort(new Error('stop now'));
          },
          error: resolve,
          complete: () => resolve('completed'),
        });
      });
      expect(error).toBeInstanceOf(CancelledError);
      expect((error as Error).message).toMatch(/cancelled: stop now/);
      expect(seen).toBeLessThanOrEqual(BATCH);
      await expectNoMoreReads(b, read);
    }));

  it('an AbortSignal aborted while the stream waits for its first batch', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      const next = jest.fn();
      const ended = new Promise<unknown>((resolve) => {
        stream(b, read, controller.signal).subscribe({ next, error: resolve, complete: () => resolve('completed') });
      });
      controller.abort(new Error('too late'));
      await ended;
      expect(next).not.toHaveBeenCalled();
      await settle(b);
      expect(read.rows).toBe(0);
    }));

  it('unsubscribe after 3 rows', () =>
    run(async (b) => {
      const read = readCounter();
      const names: string[] = [];
      const ended = jest.fn();
      const third = latch();
      const sub: Subscription = stream(b, read).subscribe({
        next: (row) => {
          names.push(row.name);
          if (names.length === 3) {
            sub.unsubscribe();
            third.resolve();
          }
        },
        error: ended,
        complete: ended,
      });
      await third.promise;
      await settle(b);
      expect(names).toEqual(['n1', 'n2', 'n3']);
      expect(ended).not.toHaveBeenCalled();
      await expectNoMoreReads(b, read);
    }));

  it('unsubscribe before the first batch arrived', () =>
    run(async (b) => {
      const read = readCounter();
      const next = jest.fn();
      stream(b, read).subscribe(next).unsubscribe();
      await settle(b);
      expect(next).not.toHaveBeenCalled();
      expect(read.rows).toBe(0);
    }));

  it('unsubscribe at arbitrary points, with a read in flight or not', () =>
    run(async (b) => {
      // Points in event-loop turns: each gives the I/O due (opening, a read) a chance to land.
      for (const turns of [0, 1, 2, 4, 8, 16]) {
        const read = readCounter();
        let seen = 0;
        const sub = stream(b, read).subscribe(() => seen++);
        for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
        sub.unsubscribe();
        const readAtUnsubscribe = read.rows;
        await settle(b);
        // At most the read that was in flight completes; nothing after it.
        expect(read.rows).toBeLessThanOrEqual(readAtUnsubscribe + BATCH);
        expect(seen).toBeLessThanOrEqual(readAtUnsubscribe);
      }
    }));
});

// An aborted signal means no more rows, and the consumer is told: an abort
// never looks like the end of the result.
describe.each(allTargets)('a row stream whose AbortSignal aborts fails with CancelledError [$name]', (t) => {
  const appName = `sasync-rows-abort-${process.pid}`;
  const run = releaseCheckedRun(t, appName, ROWS);
  const stream = (b: ItemsBroker, signal: AbortSignal) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, signal });
  /** What a subscription ended with: its error, or 'completed'. */
  const ending = (b: ItemsBroker, signal: AbortSignal, next: (row: Row) => void) =>
    new Promise<unknown>((resolve) => {
      stream(b, signal).subscribe({ next, error: resolve, complete: () => resolve('completed') });
    });

  it('already aborted: fails without reading', () =>
    run(async (b) => {
      const read = readCounter();
      const next = jest.fn();
      const error = await new Promise<unknown>((resolve) => {
        b.stream(allItemsSql(b), [], {
          signal: AbortSignal.abort(new Error('never mind')),
          onBatch: read.onBatch,
        }).subscribe({ next, error: resolve, complete: () => resolve('completed') });
      });
      expect(error).toBeInstanceOf(CancelledError);
      expect((error as Error).message).toMatch(/cancelled: never mind/);
      expect(next).not.toHaveBeenCalled();
      expect(read.rows).toBe(0);
    }));

  it('aborted right after subscribing, before the first batch: an error, not an empty result', () =>
    run(async (b) => {
      const controller = new AbortController();
      const next = jest.fn();
      const ended = ending(b, controller.signal, next);
      controller.abort(new Error('too late'));
      const error = await ended;
      expect(error).toBeInstanceOf(CancelledError);
      expect((error as Error).message).toMatch(/cancelled: too late/);
      expect(next).not.toHaveBeenCalled();
    }));

  it('aborted right after a for await loop started: the loop fails, it does not just end', () =>
    run(async (b) => {
      const controller = new AbortController();
      let seen = 0;
      const loop = (async () => {
        for await (const _row of stream(b, controller.signal)) seen++;
      })();
      controller.abort(new Error('too late'));
      await expect(loop).rejects.toBeInstanceOf(CancelledError);
      expect(seen).toBe(0);
    }));

  it('for await, aborted at row 3: no further row, not even the rest of the batch in hand', () =>
    run(async (b) => {
      const controller = new AbortController();
      let seen = 0;
      const loop = (async () => {
        for await (const _row of stream(b, controller.signal)) {
          if (++seen === 3) controller.abort(new Error('enough'));
        }
      })();
      await expect(loop).rejects.toBeInstanceOf(CancelledError);
      expect(seen).toBe(3);
    }));

  it('aborted with a timeout reason (as AbortSignal.timeout() does): fails with TimeoutError', () =>
    run(async (b) => {
      const controller = new AbortController();
      const ended = ending(b, controller.signal, () => undefined);
      controller.abort(new DOMException('the caller ran out of time', 'TimeoutError'));
      const error = await ended;
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toMatch(/row stream was cancelled: .*the caller ran out of time/);
      expect((error as Error).cause).toBeInstanceOf(DOMException);
    }));

  it('subscribe, aborted at row 3: the error comes before any further row', () =>
    run(async (b) => {
      const controller = new AbortController();
      let seen = 0;
      const error = await ending(b, controller.signal, () => {
        if (++seen === 3) controller.abort(new Error('stop now'));
      });
      expect(error).toBeInstanceOf(CancelledError);
      expect(seen).toBe(3);
    }));
});

// sqlite without `key` copies the result into a temporary table first: on the
// transaction connection (in memory, or inside a transaction) it must not
// outlive the stream, even when the stream is left while the copy runs.
describe.each(allTargets.filter((t) => t.dialect === 'sqlite'))(
  'leaving a sqlite stream during its first read leaves no temporary table [$name]',
  (t) => {
    const leaveDuringCopy = async (inTransaction: boolean) => {
      let onCopy: (() => void) | undefined;
      const dropped = latch();
      const target = hookedOptions(t.target(), (sql) => {
        if (/CREATE TABLE temp\.sasync_stream/.test(sql)) onCopy?.();
        if (/DROP TABLE IF EXISTS .*sasync_stream/.test(sql)) dropped.resolve();
      });
      await withItems(
        t,
        async (b) => {
          await fillItems(b, ROWS);
          const leave = async () => {
            const copying = latch();
            onCopy = () => copying.resolve();
            const sub = b.stream(allItemsSql(b), [], { batchSize: BATCH }).subscribe();
            await copying.promise;
            sub.unsubscribe();
          };
          if (inTransaction) {
            await lastValueFrom(
              b.transact(async () => {
                await leave();
                // The work goes on until the left stream dropped its copy, then commits.
                await within(dropped.promise, 'the temporary table dropped');
              }),
            );
          } else {
            await leave();
          }
          await b.drain();
          await settle(b);
          expect(await sqliteTempTables(b)).toEqual([]);
          await expectStreamsReleased(b, t);
        },
        target,
      );
    };

    if (t.name === 'sqlite-memory') it('outside a transaction (in memory)', () => leaveDuringCopy(false));
    it('inside a transaction that commits', () => leaveDuringCopy(true));
  },
);
