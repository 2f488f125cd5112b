import { CancelledError, TransactionError } from '../../lib';
import type { ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  failingAtSql,
  readCounter,
  releaseCheckedRun,
  settle,
  within,
  type ReadCounter,
} from '../support/streams';
import { allTargets } from '../support/targets';

const ROWS = 250;
const BATCH = 100;

interface Row {
  id: number;
  name: string;
}

// The row iterator of `for await` serves the batch in hand without reading:
// its own protocol (next() racing, return(), an abort within a batch, an error
// of a later batch), each case ending with every stream connection back.
describe.each(allTargets)('a RowStream iterated row by row [$name]', (t) => {
  const run = releaseCheckedRun(t, `sasync-rows-iterator-${process.pid}`, ROWS);
  const iterate = (b: ItemsBroker, read: ReadCounter, signal?: AbortSignal) =>
    b.stream<Row>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch, signal })[Symbol.asyncIterator]();

  it('next() called many times at once gives every row once, in order, across batches', () =>
    run(async (b) => {
      const read = readCounter();
      const it = iterate(b, read);
      const results = await within(
        Promise.all(Array.from({ length: ROWS + 3 }, () => it.next())),
        'racing next() calls',
      );
      expect(results.slice(0, ROWS).map((r) => (r.done ? 'done' : r.value.id))).toEqual(
        Array.from({ length: ROWS }, (_, i) => i + 1),
      );
      expect(results.slice(ROWS).every((r) => r.done)).toBe(true);
      expect(read.batches).toBe(3);
    }));

  it('reads a batch only when the one in hand is used up', () =>
    run(async (b) => {
      const read = readCounter();
      const it = iterate(b, read);
      for (let i = 1; i <= BATCH; i++) expect((await it.next()).value).toMatchObject({ id: i });
      await settle(b);
      expect(read.batches).toBe(1);
      expect((await it.next()).value).toMatchObject({ id: BATCH + 1 });
      expect(read.batches).toBe(2);
      await it.return!();
    }));

  it('return() within a batch closes the cursor; next() after it is done, with no row of that batch', () =>
    run(async (b) => {
      const read = readCounter();
      const it = iterate(b, read);
      expect((await it.next()).value).toMatchObject({ id: 1 });
      expect(await it.return!()).toEqual({ done: true, value: undefined });
      expect(await it.next()).toEqual({ done: true, value: undefined });
      await settle(b);
      expect(read.batches).toBe(1);
    }));

  it('return() while a next() is reading: that next() gives no row', () =>
    run(async (b) => {
      const read = readCounter();
      const it = iterate(b, read);
      const reading = it.next();
      await it.return!();
      // Done, whether the read finished or the closing cursor cut it short: never a row, never an error.
      expect(await reading).toEqual({ done: true, value: undefined });
      expect(await it.next()).toEqual({ done: true, value: undefined });
    }));

  it('an abort within a batch throws CancelledError at the next row, and again after it (never a short end)', () =>
    run(async (b) => {
      const read = readCounter();
      const controller = new AbortController();
      const it = iterate(b, read, controller.signal);
      expect((await it.next()).value).toMatchObject({ id: 1 });
      controller.abort();
      await expect(it.next()).rejects.toBeInstanceOf(CancelledError);
      await expect(it.next()).rejects.toBeInstanceOf(CancelledError);
      await settle(b);
      expect(read.batches).toBe(1);
    }));

  it("a later batch's error is thrown into the loop after the rows before it", () =>
    run(async (b) => {
      const seen: number[] = [];
      const loop = async () => {
        for await (const row of b.stream<Row>(failingAtSql(b, ROWS), [], { batchSize: BATCH })) seen.push(row.id);
      };
      await expect(within(loop(), 'a failing stream')).rejects.toBeInstanceOf(TransactionError);
      // postgres fails the batch holding the bad row; sqlite may fail the first read (the copy): never a row past it.
      expect(seen.length).toBeLessThan(ROWS);
      expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1));
    }));
});
