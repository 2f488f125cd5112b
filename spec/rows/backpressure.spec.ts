import { Observable } from 'rxjs';
import { latch, withItems } from '../support/brokers';
import { allItemsSql, fillItems, readCounter, settle, until } from '../support/streams';
import { allTargets } from '../support/targets';

const ROWS = 5_000;
const BATCH = 100;
/** Where the consumer stops and stays busy until the test lets it go. */
const STALL_AT = 1_234;

// Counted, not timed (as pg-query-stream's test/slow-reader): the rows read
// from the database, reported by onBatch, never run ahead of the rows handled
// by more than two batches.
describe.each(allTargets)('row streams read only as fast as they are consumed [$name]', (t) => {
  it('for await with a slow body: rows read stay within handled + 2 × batchSize, also while it is stalled', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const stalled = latch();
      const goOn = latch();
      let handled = 0;
      let worstLead = 0;
      const reading = (async () => {
        for await (const row of b.stream<{ id: number }>(allItemsSql(b), [], {
          batchSize: BATCH,
          onBatch: read.onBatch,
        })) {
          worstLead = Math.max(worstLead, read.rows - handled);
          expect(Number(row.id)).toBe(handled + 1);
          if (handled === STALL_AT) {
            stalled.resolve();
            await goOn.promise;
          }
          await new Promise((resolve) => setImmediate(resolve));
          handled++;
        }
      })();
      await stalled.promise;
      // The consumer has handled STALL_AT rows and is busy: whatever a
      // read-ahead could do, it has had the time to do it.
      await settle(b);
      expect(handled).toBe(STALL_AT);
      expect(read.rows).toBeGreaterThan(STALL_AT);
      expect(read.rows).toBeLessThanOrEqual(handled + 2 * BATCH);
      goOn.resolve();
      await reading;
      expect(handled).toBe(ROWS);
      expect(read.rows).toBe(ROWS);
      expect(worstLead).toBeLessThanOrEqual(2 * BATCH);
    }));

  it('consume() with an async handler and concurrency 4: rows read stay within handled + 2 × batchSize', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const goOn = latch();
      let started = 0;
      let handled = 0;
      let inFlight = 0;
      let maxInFlight = 0;
      let worstLead = 0;
      const consumed = b
        .stream<{ id: number }>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch })
        .consume(
          async () => {
            worstLead = Math.max(worstLead, read.rows - handled);
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            // Every handler from STALL_AT on stays busy until the test lets go.
            if (++started > STALL_AT) await goOn.promise;
            await new Promise((resolve) => setImmediate(resolve));
            inFlight--;
            handled++;
          },
          { concurrency: 4 },
        );
      await until(() => started === STALL_AT + 4, 'four handlers are stalled');
      await settle(b);
      // Stalled: no further handler was started, and no further batch read.
      expect(started).toBe(STALL_AT + 4);
      expect(handled).toBe(STALL_AT);
      expect(read.rows).toBeGreaterThan(STALL_AT);
      expect(read.rows).toBeLessThanOrEqual(handled + 2 * BATCH);
      goOn.resolve();
      await consumed;
      expect(handled).toBe(ROWS);
      expect(read.rows).toBe(ROWS);
      expect(maxInFlight).toBe(4);
      expect(worstLead).toBeLessThanOrEqual(2 * BATCH);
    }));

  it('consume() with Observable-returning handlers keeps at most `concurrency` calls in flight', () =>
    withItems(t, async (b) => {
      await fillItems(b, 500);
      let inFlight = 0;
      let maxInFlight = 0;
      let handled = 0;
      await b.stream(allItemsSql(b), [], { batchSize: 50 }).consume(
        () =>
          new Observable<number>((subscriber) => {
            inFlight++;
            maxInFlight = Math.max(maxInFlight, inFlight);
            const timer = setImmediate(() => {
              inFlight--;
              handled++;
              subscriber.next(1);
              subscriber.complete();
            });
            return () => clearImmediate(timer);
          }),
        { concurrency: 3 },
      );
      expect(handled).toBe(500);
      expect(maxInFlight).toBe(3);
    }));

  it('batches() for await holds one batch: rows read stay within handled + 2 × batchSize', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      let handled = 0;
      let worstLead = 0;
      const sizes = new Set<number>();
      for await (const batch of b.stream(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch }).batches()) {
        sizes.add(batch.length);
        worstLead = Math.max(worstLead, read.rows - handled);
        await settle(b);
        handled += batch.length;
        if (handled >= 1_000) break;
      }
      expect(handled).toBe(1_000);
      expect([...sizes]).toEqual([BATCH]);
      expect(worstLead).toBeLessThanOrEqual(2 * BATCH);
      expect(read.rows).toBeLessThanOrEqual(handled + 2 * BATCH);
    }));
});
