import { lastValueFrom, merge, toArray } from 'rxjs';
import { TransactionError } from '../../lib';
import { latch, loggedOptions, queryLog, withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  fillItems,
  insertName,
  readCounter,
  settle,
  sqliteConnections,
  sqliteFile,
} from '../support/streams';
import { allTargets, ph, sqliteMemory } from '../support/targets';

const ROWS = 250;
const BATCH = 100;

const names = (rows: { name: string }[]) => rows.map((r) => r.name);

describe.each(allTargets)('row streams are cold [$name]', (t) => {
  it('reads nothing and takes no connection until subscribed', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const filesBefore = t.name === 'sqlite-file' ? sqliteConnections(sqliteFile(b)) : 0;
      const stream = b.stream<{ name: string }>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch });
      await settle(b);
      expect(read.batches).toBe(0);
      const stats = b.connectionStats();
      expect(stats.open - stats.idle).toBe(0);
      if (t.name === 'sqlite-file') expect(sqliteConnections(sqliteFile(b))).toBe(filesBefore);
      // Subscribed: now it reads (and, paused in the first batch, holds a connection).
      const first = latch();
      const goOn = latch();
      const reading = (async () => {
        let n = 0;
        for await (const _row of stream) {
          if (++n === 1) {
            first.resolve();
            await goOn.promise;
          }
        }
        return n;
      })();
      await first.promise;
      expect(read.batches).toBe(1);
      if (t.name === 'postgres') expect(b.connectionStats().open - b.connectionStats().idle).toBe(1);
      if (t.name === 'sqlite-file') expect(sqliteConnections(sqliteFile(b))).toBeGreaterThan(filesBefore);
      goOn.resolve();
      expect(await reading).toBe(ROWS);
    }));

  it('a malformed query fails only when subscribed', () =>
    withItems(t, async (b) => {
      const stream = b.stream('SELEKT nothing FROM nowhere');
      await settle(b);
      await expect(lastValueFrom(stream)).rejects.toBeInstanceOf(TransactionError);
    }));

  it('two subscriptions read twice, each all the rows, one after the other or at once', () =>
    withItems(t, async (b) => {
      await fillItems(b, ROWS);
      const read = readCounter();
      const stream = b.stream<{ name: string }>(allItemsSql(b), [], { batchSize: BATCH, onBatch: read.onBatch });
      const first = await lastValueFrom(stream.pipe(toArray()));
      const second = await lastValueFrom(stream.pipe(toArray()));
      expect(names(second)).toEqual(names(first));
      expect(first).toHaveLength(ROWS);
      expect(read.rows).toBe(2 * ROWS);
      expect(read.batches).toBe(2 * Math.ceil(ROWS / BATCH));
      // Two subscriptions at once (in memory the second waits for the first's connection).
      const both = await lastValueFrom(merge(stream, stream).pipe(toArray()));
      expect(both).toHaveLength(2 * ROWS);
      expect(read.rows).toBe(4 * ROWS);
    }));

  it('each subscription runs the query anew: a row inserted between two is read by the second', () =>
    withItems(t, async (b) => {
      await fillItems(b, 3);
      const stream = b.stream<{ name: string }>(allItemsSql(b));
      expect(names(await lastValueFrom(stream.pipe(toArray())))).toEqual(['n1', 'n2', 'n3']);
      await insertName(b, 'later');
      expect(names(await lastValueFrom(stream.pipe(toArray())))).toEqual(['n1', 'n2', 'n3', 'later']);
    }));

  it('one RowStream may be iterated again once an iteration ended, reading again', () =>
    withItems(t, async (b) => {
      await fillItems(b, 5);
      const read = readCounter();
      const stream = b.stream<{ name: string }>(allItemsSql(b), [], { batchSize: 2, onBatch: read.onBatch });
      const seen: string[] = [];
      for await (const row of stream) {
        seen.push(row.name);
        if (seen.length === 2) break;
      }
      for await (const row of stream) seen.push(row.name);
      await stream.consume((row) => void seen.push(row.name));
      expect(seen).toEqual(['n1', 'n2', 'n1', 'n2', 'n3', 'n4', 'n5', 'n1', 'n2', 'n3', 'n4', 'n5']);
      expect(read.rows).toBe(2 + 5 + 5);
    }));

  it('takes a TypeORM SelectQueryBuilder, with its parameters', () =>
    withItems(t, async (b) => {
      await fillItems(b, 6);
      const qb = b.dataSource
        .createQueryBuilder()
        .select('i.name', 'name')
        .from(b.itemsTable, 'i')
        .where('i.id > :min', { min: 3 })
        .orderBy('i.id');
      // Raw rows, typed as such (ObjectLiteral): no row type is named for a QueryBuilder.
      const rows = await lastValueFrom(b.stream(qb).pipe(toArray()));
      expect(rows.map((r) => r.name)).toEqual(['n4', 'n5', 'n6']);
      // Parameters beside a QueryBuilder are a mistake the types already refuse.
      expect(() => b.stream(qb, [1] as never)).toThrow(TypeError);
    }));

  it('binds raw SQL parameters', () =>
    withItems(t, async (b) => {
      await fillItems(b, 6);
      const sql = `SELECT name FROM ${b.itemsTable} WHERE id BETWEEN ${ph(b.dialect, 1)} AND ${ph(b.dialect, 2)} ORDER BY id`;
      const rows = await lastValueFrom(b.stream<{ name: string }>(sql, [2, 4]).pipe(toArray()));
      expect(names(rows)).toEqual(['n2', 'n3', 'n4']);
    }));
});

// In memory the stream reads through TypeORM on the one connection, so its
// logger shows exactly when the stream's statements run.
describe('row streams are cold, by the query log [sqlite-memory]', () => {
  it('no statement of the stream runs before it is subscribed; each subscription runs its own', async () => {
    const log = queryLog();
    await withItems(
      sqliteMemory,
      async (b: ItemsBroker) => {
        await fillItems(b, 10);
        const streamed = /sasync_stream/;
        const stream = b.stream(allItemsSql(b));
        await settle(b);
        await lastValueFrom(b.query('SELECT 1 AS one'));
        expect(log.count(streamed)).toBe(0);
        await lastValueFrom(stream.pipe(toArray()));
        const once = log.count(streamed);
        expect(once).toBeGreaterThan(0);
        await lastValueFrom(stream.pipe(toArray()));
        expect(log.count(streamed)).toBe(2 * once);
      },
      loggedOptions(sqliteMemory.target(), log),
    );
  });
});
