import { lastValueFrom, toArray } from 'rxjs';
import { BrokerClosedError, TransactionError, TransactIterationError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import {
  allItemsSql,
  expectStreamsReleased,
  fillItems,
  readCounter,
  settle,
  sqliteConnections,
  sqliteFile,
  streamBudget,
  until,
  within,
  withStreamItems,
} from '../support/streams';
import { allTargets } from '../support/targets';

const BAD_SQL = 'SELECT nope FROM no_such_table_at_all';

describe.each(allTargets)('row streams given bad input [$name]', (t) => {
  const appName = `sasync-rows-bad-${process.pid}`;

  it('a malformed query fails with TransactionError carrying the SQL, and releases its connection', () =>
    withStreamItems(t, appName, async (b) => {
      const subscribed = (await lastValueFrom(b.stream(BAD_SQL)).catch((e: unknown) => e)) as TransactionError;
      expect(subscribed).toBeInstanceOf(TransactionError);
      expect(subscribed.sql).toBe(BAD_SQL);
      expect(subscribed.message).toMatch(/no_such_table_at_all/);
      const iterated = await (async () => {
        for await (const _row of b.stream(BAD_SQL, [], { batchSize: 3 })) throw new Error('no row expected');
      })().catch((e: unknown) => e);
      expect(iterated).toBeInstanceOf(TransactionError);
      expect((iterated as TransactionError).sql).toBe(BAD_SQL);
      const consumed = await b
        .stream(BAD_SQL)
        .consume(() => undefined)
        .catch((e: unknown) => e);
      expect(consumed).toBeInstanceOf(TransactionError);
      expect((consumed as TransactionError).sql).toBe(BAD_SQL);
      await expectStreamsReleased(b, t, appName);
    }));

  it('a syntax error fails the same way', () =>
    withStreamItems(t, appName, async (b) => {
      const sql = 'SELEKT 1';
      const error = (await lastValueFrom(b.stream(sql)).catch((e: unknown) => e)) as TransactionError;
      expect(error).toBeInstanceOf(TransactionError);
      expect(error.sql).toBe(sql);
      await expectStreamsReleased(b, t, appName);
    }));

  it.each([0, -1, 1.5, 10_000_000, Number.NaN, Infinity])('batchSize %p is a RangeError at call time', (batchSize) =>
    withItems(t, async (b) => {
      expect(() => b.stream(allItemsSql(b), [], { batchSize })).toThrow(RangeError);
      expect(() => b.stream(allItemsSql(b), [], { batchSize })).toThrow(/batchSize/);
    }),
  );

  it('batchSize 1 and 100,000 are fine', () =>
    withItems(t, async (b) => {
      await fillItems(b, 3);
      for (const batchSize of [1, 100_000]) {
        const read = readCounter();
        const rows = await lastValueFrom(
          b.stream(allItemsSql(b), [], { batchSize, onBatch: read.onBatch }).pipe(toArray()),
        );
        expect(rows).toHaveLength(3);
        expect(read.batches).toBe(batchSize === 1 ? 3 : 1);
      }
    }));

  it.each([0, -2, 1.5, Number.NaN])('consume() with concurrency %p is a RangeError, and reads nothing', (concurrency) =>
    withItems(t, async (b) => {
      await fillItems(b, 3);
      const read = readCounter();
      const handler = jest.fn();
      const error = await b
        .stream(allItemsSql(b), [], { onBatch: read.onBatch })
        .consume(handler, { concurrency })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeError);
      expect((error as Error).message).toMatch(/concurrency/);
      await settle(b);
      expect(read.batches).toBe(0);
      expect(handler).not.toHaveBeenCalled();
    }),
  );

  it('iterating one RowStream twice at once is a TransactIterationError; after the first ends, a new one is fine', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, 10);
      const stream = b.stream<{ name: string }>(allItemsSql(b), [], { batchSize: 2 });
      const seen: string[] = [];
      for await (const row of stream) {
        seen.push(row.name);
        if (seen.length === 1) {
          const second = (async () => {
            for await (const _row of stream) throw new Error('the second iteration got a row');
          })();
          await expect(second).rejects.toBeInstanceOf(TransactIterationError);
          await expect(stream.consume(() => undefined)).rejects.toBeInstanceOf(TransactIterationError);
          // Subscribing (or iterating batches()) is not iterating the rows: each
          // reads on its own (in memory it would wait for the iteration's connection).
          if (t.name !== 'sqlite-memory') {
            expect(await lastValueFrom(stream.pipe(toArray()))).toHaveLength(10);
            for await (const batch of stream.batches()) {
              expect(batch).toHaveLength(2);
              break;
            }
          }
        }
      }
      // The first iteration was not disturbed by the refused second one.
      expect(seen).toHaveLength(10);
      // It ended: iterating again is fine.
      let again = 0;
      for await (const _row of stream) again++;
      expect(again).toBe(10);
      await expectStreamsReleased(b, t, appName);
    }));

  it('a stream of a broker that was shut down fails with BrokerClosedError', () =>
    withItems(t, async (b) => {
      const made = b.stream(allItemsSql(b));
      await b.shutdown();
      await expect(lastValueFrom(b.stream('SELECT 1 AS one'))).rejects.toBeInstanceOf(BrokerClosedError);
      await expect(lastValueFrom(made)).rejects.toBeInstanceOf(BrokerClosedError);
      await expect(made.consume(() => undefined)).rejects.toBeInstanceOf(BrokerClosedError);
    }));

  it('streams open at shutdown fail with BrokerClosedError, and shutdown completes', () =>
    withItems(t, async (b) => {
      await fillItems(b, 1_000);
      const file = t.name === 'sqlite-file' ? sqliteFile(b) : undefined;
      const paused = latch();
      const goOn = latch();
      try {
        // A for await loop paused in its body, and (with connections to spare) a consume() whose handler is busy.
        let iterated = 0;
        const loop = (async () => {
          for await (const _row of b.stream(allItemsSql(b), [], { batchSize: 10 })) {
            if (++iterated === 1) {
              paused.resolve();
              await goOn.promise;
            }
          }
        })().catch((e: unknown) => e);
        let handled = 0;
        const consumed =
          t.name === 'sqlite-memory'
            ? undefined
            : b
                .stream(allItemsSql(b), [], { batchSize: 10 })
                .consume(async () => {
                  handled++;
                  await goOn.promise;
                })
                .catch((e: unknown) => e);
        await paused.promise;
        if (consumed) await until(() => handled === 1, 'the handler is busy');
        await within(b.shutdown(), 'shutdown with streams open');
        expect(b.running).toBe(false);
        goOn.resolve();
        expect(await loop).toBeInstanceOf(BrokerClosedError);
        if (consumed) expect(await consumed).toBeInstanceOf(BrokerClosedError);
        // At most the rest of the batch in hand, nothing read after shutdown.
        expect(iterated).toBeLessThanOrEqual(10);
        if (file !== undefined) expect(sqliteConnections(file)).toBe(0);
      } finally {
        // Whatever failed, let the consumers go so that shutdown can finish.
        goOn.resolve();
      }
    }));

  it('a stream still waiting for a connection at shutdown fails with BrokerClosedError, never opens, and shutdown completes', () =>
    withItems(t, async (b) => {
      await fillItems(b, 1_000);
      const goOn = latch();
      try {
        // Every stream connection held by a paused stream…
        let holding = 0;
        const allHolding = latch();
        const holders = Array.from({ length: streamBudget(t) }, async () => {
          for await (const _row of b.stream(allItemsSql(b), [], { batchSize: 10 })) {
            if (++holding === streamBudget(t)) allHolding.resolve();
            await goOn.promise;
          }
        });
        holders.forEach((h) => h.catch(() => undefined));
        await within(allHolding.promise, 'every stream connection held');
        // …and one more waiting for a connection, with a consumer that would pause too.
        const read = readCounter();
        const waiter = (async () => {
          for await (const _row of b.stream(allItemsSql(b), [], { batchSize: 10, onBatch: read.onBatch })) {
            await goOn.promise;
          }
        })().catch((e: unknown) => e);
        await settle(b);
        expect(read.rows).toBe(0);
        await within(b.shutdown(), 'shutdown with a stream waiting for a connection');
        goOn.resolve();
        expect(await waiter).toBeInstanceOf(BrokerClosedError);
        expect(read.rows).toBe(0);
      } finally {
        goOn.resolve();
      }
    }));
});
