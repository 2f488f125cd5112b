import { lastValueFrom, toArray } from 'rxjs';
import { CancelledError } from '../../lib';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  expectStreamsReleased,
  fillItems,
  insertName,
  readCounter,
  settle,
  streamBudget,
  within,
  withStreamItems,
} from '../support/streams';
import { fileAndPg, sqliteMemory, type TestTarget } from '../support/targets';

const ROWS = 300;
const BATCH = 10;

interface Paused {
  /** Lets the streams go on; resolves with the number of rows each read. */
  release(): Promise<number[]>;
}

/**
 * Runs `fn` with `n` streams open, each paused after its first row until
 * `release()`; released in any case afterwards (a stream left paused would
 * hold its slot, and shutdown would wait for it).
 */
async function withPaused(b: ItemsBroker, n: number, fn: (paused: Paused) => Promise<void>, key?: string) {
  const goOn = latch();
  let holding = 0;
  const allHolding = latch();
  const done = Array.from({ length: n }, async () => {
    let rows = 0;
    for await (const _row of b.stream(allItemsSql(b), [], { batchSize: BATCH, key })) {
      if (++rows === 1 && ++holding === n) allHolding.resolve();
      if (rows === 1) await goOn.promise;
    }
    return rows;
  });
  const release = () => {
    goOn.resolve();
    return Promise.all(done);
  };
  try {
    await within(allHolding.promise, `${n} streams open at once`);
    await fn({ release });
  } finally {
    await release().catch(() => undefined);
  }
}

// Streams take connections from a budget of their own (postgres: a fifth of
// the pool, here 2 of 10; sqlite file: 4 reader connections).
describe.each(fileAndPg)('row streams never starve transactions [$name]', (t: TestTarget) => {
  const appName = `sasync-rows-budget-${process.pid}`;
  const keys = t.dialect === 'sqlite' ? [undefined, 'id'] : [undefined];

  it.each(keys)('with every stream connection held by a paused stream (key %s), transactions still complete', (key) =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, ROWS);
      await withPaused(
        b,
        streamBudget(t),
        async (paused) => {
          // One transaction, then more at once than there are transaction slots.
          await within(insertName(b, 'during'), 'a transaction while every stream slot is held');
          await within(
            Promise.all(Array.from({ length: 12 }, (_, i) => insertName(b, `during ${i}`))),
            '12 transactions while every stream slot is held',
          );
          // Each stream read the rows of when it started, not the new ones.
          expect(await paused.release()).toEqual(Array.from({ length: streamBudget(t) }, () => ROWS));
        },
        key,
      );
      expect((await b.names()).length).toBe(ROWS + 13);
      await expectStreamsReleased(b, t, appName);
    }),
  );

  it('a further stream waits for a slot, and reads once one is free', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      let further: Promise<unknown[]> | undefined;
      await withPaused(b, streamBudget(t), async (paused) => {
        further = lastValueFrom(
          b.stream(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch }).pipe(toArray()),
        );
        await settle(b);
        expect(read.rows).toBe(0);
        await paused.release();
      });
      expect(await within(further!, 'the further stream')).toHaveLength(ROWS);
      expect(read.rows).toBe(ROWS);
      await expectStreamsReleased(b, t, appName);
    }));

  it('a further stream unsubscribed while waiting for a slot takes none, then and later', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const next = jest.fn();
      await withPaused(b, streamBudget(t), async () => {
        const waiting = b.stream(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch }).subscribe(next);
        await settle(b);
        waiting.unsubscribe();
      });
      // Had the waiter kept its place in the queue, it would have taken a slot by now.
      await settle(b);
      expect(read.rows).toBe(0);
      expect(next).not.toHaveBeenCalled();
      expectPoolWhole(b);
      // expectStreamsReleased opens the whole budget at once: a leaked slot would hang it.
      await expectStreamsReleased(b, t, appName);
      const after = await lastValueFrom(b.stream(allItemsSql(b), [], { batchSize: BATCH }).pipe(toArray()));
      expect(after).toHaveLength(ROWS);
    }));

  it('a further stream whose signal aborts while waiting for a slot fails with CancelledError and takes none', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      let error: unknown;
      await withPaused(b, streamBudget(t), async () => {
        const controller = new AbortController();
        const waiting = lastValueFrom(
          b.stream(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch, signal: controller.signal }),
        ).catch((e: unknown) => e);
        await settle(b);
        controller.abort(new Error('waited long enough'));
        error = await within(waiting, 'the aborted waiter');
      });
      await settle(b);
      expect(read.rows).toBe(0);
      await expectStreamsReleased(b, t, appName);
      expect((error as Error).message).toMatch(/waited long enough/);
      expect(error).toBeInstanceOf(CancelledError);
    }));
});

// sqlite in memory has one connection: an open stream holds it, honestly.
describe('a row stream in memory holds the one connection [sqlite-memory]', () => {
  it('a transaction waits while a stream is open, and runs as soon as it closes', () =>
    withItems(sqliteMemory, async (b) => {
      await fillItems(b, ROWS);
      let insert: Promise<unknown> | undefined;
      await withPaused(b, 1, async (paused) => {
        let inserted = false;
        insert = insertName(b, 'after the stream').then(() => (inserted = true));
        await settle(b);
        expect(inserted).toBe(false);
        expect(await paused.release()).toEqual([ROWS]);
      });
      await within(insert!, 'the transaction after the stream closed');
      expect((await b.names()).at(-1)).toBe('after the stream');
      await expectStreamsReleased(b, sqliteMemory);
    }));
});
