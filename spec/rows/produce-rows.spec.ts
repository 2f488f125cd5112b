import { concat, lastValueFrom, map, of, timer, toArray } from 'rxjs';
import { TransactionError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

/** Finishes after a random number of event-loop turns, so that values complete out of input order. */
const shuffledDelay = async () => {
  for (let turns = Math.floor(Math.random() * 8); turns > 0; turns--) await new Promise((r) => setImmediate(r));
};

describe.each(allTargets)('produceRows() [$name]', (t) => {
  it('writes rows and emits their keys in input order although f resolves in random order', () =>
    withItems(t, async (b) => {
      const inputs = Array.from({ length: 30 }, (_, i) => i);
      const keys = await lastValueFrom(
        b
          .produceRows(async (i: number) => (await shuffledDelay(), `row ${i}`), inputs, b.itemsTable, 'name')
          .pipe(toArray()),
      );
      expect(await b.names()).toEqual(inputs.map((i) => `row ${i}`));
      const ids = await lastValueFrom(b.query<{ id: number }>(`SELECT id FROM ${b.itemsTable} ORDER BY id`));
      expect(keys.map(Number)).toEqual(ids.map((r) => Number(r.id)));
    }));

  it('takes values from an async iterable or an Observable, and f may return a value or an Observable', () =>
    withItems(t, async (b) => {
      async function* gen() {
        yield 'a';
        yield 'b';
      }
      await lastValueFrom(b.produceRows((v: string) => v.toUpperCase(), gen(), b.itemsTable, 'name').pipe(toArray()));
      // A cold Observable: values are read when the transaction runs.
      const later = concat(of('c'), timer(5).pipe(map(() => 'd')));
      await lastValueFrom(b.produceRows((v: string) => of(`${v}!`), later, b.itemsTable, 'name').pipe(toArray()));
      expect(await b.names()).toEqual(['A', 'B', 'c!', 'd!']);
    }));

  it('calls f for at most `concurrency` values at once', () =>
    withItems(t, async (b) => {
      let running = 0;
      let peak = 0;
      const f = async (i: number) => {
        peak = Math.max(peak, ++running);
        await shuffledDelay();
        running--;
        return `n${i}`;
      };
      await lastValueFrom(
        b
          .produceRows(
            f,
            Array.from({ length: 20 }, (_, i) => i),
            b.itemsTable,
            'name',
            {},
            { concurrency: 3 },
          )
          .pipe(toArray()),
      );
      expect(peak).toBe(3);
    }));

  it('rolls back every row when f fails for one value', () =>
    withItems(t, async (b) => {
      const f = async (i: number) => {
        await shuffledDelay();
        if (i === 7) throw new Error('f fails on 7');
        return `n${i}`;
      };
      const error = await lastValueFrom(
        b.produceRows(
          f,
          Array.from({ length: 10 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      ).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionError);
      expect((error as Error).message).toMatch(/f fails on 7/);
      expect(await b.names()).toEqual([]);
    }));

  it('fails clearly, writing nothing, for a missing table or column', () =>
    withItems(t, async (b) => {
      const f = jest.fn((v: string) => v);
      const noTable = await lastValueFrom(b.produceRows(f, ['x'], 'no_such_table_here', 'name')).catch(
        (e: unknown) => e,
      );
      expect((noTable as Error).message).toMatch(/no such table/);
      // A missing table fails the transaction; InvalidIdentifierError is for bad names only.
      expect(noTable).toBeInstanceOf(TransactionError);
      expect((noTable as Error).cause).toBeUndefined();
      const noColumn = await lastValueFrom(b.produceRows(f, ['x'], b.itemsTable, 'nope')).catch((e: unknown) => e);
      expect((noColumn as Error).message).toMatch(/no such column/);
      expect(noColumn).toBeInstanceOf(TransactionError);
      const noConstant = await lastValueFrom(b.produceRows(f, ['x'], b.itemsTable, 'name', { missing: 1 })).catch(
        (e: unknown) => e,
      );
      expect((noConstant as Error).message).toMatch(/no such column/);
      expect(f).not.toHaveBeenCalled();
      expect(await b.names()).toEqual([]);
      expect(() => b.produceRows(f, ['x'], 'x"; DROP TABLE y; --', 'name')).toThrow(/invalid table/);
      expect(() => b.produceRows(f, ['x'], b.itemsTable, 'name', {}, { concurrency: 0 })).toThrow(RangeError);
    }));
});

describe.each(allTargets)('produceRows() with a slow early value [$name]', (t) => {
  it('produces at most 2 × concurrency values past the first one not yet sent to the database, and all in order', () =>
    withItems(t, async (b) => {
      let releaseFirst!: () => void;
      const first = new Promise<void>((r) => (releaseFirst = r));
      const called: number[] = [];
      const firstCalled = latch();
      const f = async (i: number) => {
        called.push(i);
        if (i === 0) firstCalled.resolve();
        if (i === 0) await first;
        return `v${i}`;
      };
      const done = lastValueFrom(
        b
          .produceRows(
            f,
            Array.from({ length: 100 }, (_, i) => i),
            b.itemsTable,
            'name',
            {},
            { concurrency: 3 },
          )
          .pipe(toArray()),
      );
      // Once f(0) is waiting, let everything that may run, run: the values behind it
      // are produced in promise jobs (f returns at once), which a macrotask turn flushes.
      await firstCalled.promise;
      for (let seen = -1; seen !== called.length;) {
        seen = called.length;
        await new Promise((resolve) => setImmediate(resolve));
      }
      try {
        expect(called.length).toBeLessThanOrEqual(6);
      } finally {
        releaseFirst();
      }
      const keys = await done;
      expect(keys).toHaveLength(100);
      expect(await b.names()).toEqual(Array.from({ length: 100 }, (_, i) => `v${i}`));
    }));
});
