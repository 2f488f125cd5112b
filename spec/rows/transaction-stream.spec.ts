import { lastValueFrom, type Observable, Subscription, take, tap, toArray } from 'rxjs';
import { CancelledError, TransactionError } from '../../lib';
import { withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  expectStreamsReleased,
  failingAtSql,
  fillItems,
  hookedOptions,
  readCounter,
  settle,
  withStreamItems,
} from '../support/streams';
import { allTargets, pgAvailable, postgres } from '../support/targets';

interface Row {
  id: number;
  name: string;
}

/**
 * The rows of a transaction whose async work returns a RowStream: transact()
 * types its values as the stream itself (R = RowStream<Row>), not its rows.
 */
const rowsOf = <T>(values: Observable<unknown>) => values as Observable<T>;

// sAsync's ResultProxy iteration: work that returns a RowStream keeps its
// transaction open while the rows go out, then commits or rolls back.
describe.each(allTargets)('a transaction whose work returns a RowStream [$name]', (t) => {
  const appName = `sasync-rows-tx-${process.pid}`;

  it('emits the rows as they are read, sees its own insert, and commits after the last row', async () => {
    // The log records statements on the DataSource's connections as they
    // start; the test adds a mark for each row the subscriber gets.
    const events: string[] = [];
    const target = hookedOptions(t.target(), (sql) => void events.push(sql.trim().toUpperCase()));
    await withItems(
      t,
      async (b) => {
        await fillItems(b, 5);
        const read = readCounter();
        const readAtRow: number[] = [];
        const rows = await lastValueFrom(
          rowsOf<Row>(
            b.transact(async (tx) => {
              await tx.query(b.insertSql(), ['inserted by the work']);
              return b.stream<Row>(allItemsSql(b), [], { batchSize: 2, onBatch: read.onBatch });
            }),
          ).pipe(
            tap((row) => {
              events.push(`row ${row.name}`);
              readAtRow.push(read.rows);
            }),
            toArray(),
          ),
        );
        expect(rows.map((r) => r.name)).toEqual(['n1', 'n2', 'n3', 'n4', 'n5', 'inserted by the work']);
        // As read: the first row went out when one batch had been read, not all six rows.
        expect(readAtRow).toEqual([2, 2, 4, 4, 6, 6]);
        const lastRow = events.lastIndexOf('row inserted by the work');
        const commit = events.findIndex((e, i) => i > events.indexOf('row n1') && e === 'COMMIT');
        expect(lastRow).toBeGreaterThan(-1);
        expect(commit).toBeGreaterThan(lastRow);
        // No COMMIT between the work's insert and the last row.
        const insert = events.findIndex((e) => e.startsWith('INSERT INTO'));
        expect(events.slice(insert, lastRow).filter((e) => e === 'COMMIT')).toEqual([]);
        expect((await b.names()).at(-1)).toBe('inserted by the work');
        await expectStreamsReleased(b, t);
      },
      target,
    );
  });

  it('returned directly (not from an async function), it is read the same way', () =>
    withItems(t, async (b) => {
      await fillItems(b, 3);
      const rows = await lastValueFrom(b.transact(() => b.stream<Row>(allItemsSql(b))).pipe(toArray()));
      expect(rows.map((r) => r.name)).toEqual(['n1', 'n2', 'n3']);
    }));

  it('rolls back when the stream fails part way (a row that cannot be computed)', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, 10);
      const emitted: unknown[] = [];
      const error = await lastValueFrom(
        b
          .transact(async (tx) => {
            await tx.query(b.insertSql(), ['rolled back']);
            // postgres computes rows fetch by fetch, so the failure comes mid-stream. sqlite, inside a
            // transaction, first copies the result (its snapshot), so it fails before the first row.
            return b.stream(failingAtSql(b, 5), [], { batchSize: 2, key: t.dialect === 'sqlite' ? 'id' : undefined });
          })
          .pipe(tap((row) => emitted.push(row))),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionError);
      if (t.dialect === 'postgres') {
        expect(emitted.length).toBeGreaterThanOrEqual(2);
        expect(emitted.length).toBeLessThan(5);
      } else {
        expect(emitted).toEqual([]);
      }
      expect(await b.names()).not.toContain('rolled back');
      await expectStreamsReleased(b, t, appName);
    }));

  it("rolls back when the stream's signal aborts part way", () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, 100);
      const controller = new AbortController();
      let seen = 0;
      const error = await lastValueFrom(
        b
          .transact(async (tx) => {
            await tx.query(b.insertSql(), ['rolled back']);
            return b.stream(allItemsSql(b), [], { batchSize: 10, signal: controller.signal });
          })
          .pipe(
            tap(() => {
              if (++seen === 15) controller.abort(new Error('stop'));
            }),
          ),
      ).catch((e: unknown) => e);
      // Cancelled by the stream's own signal: the transaction says so, rolled back.
      expect(error).toBeInstanceOf(CancelledError);
      expect(seen).toBeLessThan(100);
      expect(await b.names()).not.toContain('rolled back');
      await expectStreamsReleased(b, t, appName);
    }));

  it('rolls back when the subscriber unsubscribes part way, and stops reading', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, 2_000);
      const read = readCounter();
      const rows = await lastValueFrom(
        rowsOf<Row>(
          b.transact(async (tx) => {
            await tx.query(b.insertSql(), ['rolled back']);
            return b.stream<Row>(allItemsSql(b), [], { batchSize: 100, onBatch: read.onBatch });
          }),
        ).pipe(take(3), toArray()),
      );
      expect(rows.map((r) => r.name)).toEqual(['n1', 'n2', 'n3']);
      await b.drain();
      await settle(b);
      expect(await b.names()).not.toContain('rolled back');
      // Nobody wants the rest: the stream stopped rather than reading the whole table.
      expect(read.rows).toBeLessThanOrEqual(2 * 100);
      await expectStreamsReleased(b, t, appName);
    }));

  it('rolls back when unsubscribed with Subscription.unsubscribe while rows flow', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, 2_000);
      let seen = 0;
      const sub: Subscription = b
        .transact(async (tx) => {
          await tx.query(b.insertSql(), ['rolled back']);
          return b.stream(allItemsSql(b), [], { batchSize: 100 });
        })
        .subscribe(() => {
          if (++seen === 150) sub.unsubscribe();
        });
      await b.drain();
      await settle(b);
      expect(seen).toBe(150);
      expect(await b.names()).not.toContain('rolled back');
      await expectStreamsReleased(b, t, appName);
    }));
});

// A stream subscribed inside transaction work reads on that transaction's
// connection: it sees the transaction's writes and takes no other connection.
describe.each(allTargets)('a row stream read inside transaction work [$name]', (t) => {
  it("sees the transaction's uncommitted rows and holds no connection of its own", () =>
    withItems(t, async (b: ItemsBroker) => {
      await fillItems(b, 3);
      const result = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['uncommitted']);
          const names: string[] = [];
          let busy = 0;
          for await (const row of b.stream<Row>(allItemsSql(b), [], { batchSize: 2 })) {
            names.push(row.name);
            const stats = b.connectionStats();
            busy = Math.max(busy, stats.open - stats.idle);
          }
          return { names, busy };
        }),
      );
      expect(result.names).toEqual(['n1', 'n2', 'n3', 'uncommitted']);
      // Only the transaction's own connection is in use.
      expect(result.busy).toBe(1);
    }));

  it('a failing stream inside the work fails the transaction, which rolls back', () =>
    withItems(t, async (b) => {
      await fillItems(b, 3);
      const error = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['rolled back']);
          await lastValueFrom(b.stream('SELECT missing_column FROM nowhere_at_all'));
        }),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionError);
      expect(await b.names()).toEqual(['n1', 'n2', 'n3']);
      await expectStreamsReleased(b, t);
    }));
});

(pgAvailable ? describe : describe.skip)('a transaction stream ended early [postgres]', () => {
  it('keeps its connection in the pool when no statement is running', () =>
    withItems(postgres, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 30 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const pids = new Set<number>();
      for (let i = 0; i < 6; i++) {
        await lastValueFrom(
          b
            .transact(async (tx) => {
              pids.add(Number((await tx.query('SELECT pg_backend_pid() AS pid'))[0].pid));
              return b.stream(`SELECT name FROM ${b.itemsTable}`, [], { batchSize: 5 });
            })
            .pipe(take(3), toArray()),
        );
        await b.drain();
      }
      // Reused from the pool, not destroyed and reopened each time (one backend, or two at most).
      expect(pids.size).toBeLessThanOrEqual(2);
    }));
});
