import { concatMap, EMPTY, from, lastValueFrom, map, of, toArray } from 'rxjs';
import { Awaitable, PriorityScheduler, TransactionError, transact, type TransactionEvent } from '../../lib';
import { expectPoolWhole, ItemsBroker, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

/** An items broker with async @transact methods, as the README writes them. */
class CountingBroker extends ItemsBroker {
  @transact({ niceness: 3 })
  async count(): Promise<number> {
    const [row] = await this.tx.query(`SELECT count(*) AS n FROM ${this.itemsTable}`);
    return Number(row.n);
  }

  @transact
  async add(name: string): Promise<number> {
    await this.tx.query(this.insertSql(), [name]);
    // Awaited inside the transaction: joins it (and so sees the row added above).
    return await this.count();
  }

  @transact
  async fail(): Promise<number> {
    await this.tx.query(this.insertSql(), ['doomed']);
    throw new Error('the method failed');
  }
}

describe.each(allTargets)('awaitable results [$name]', (t) => {
  it('is awaitable: awaited twice, it runs twice, each time in a transaction of its own', () =>
    withItems(t, async (b) => {
      const work = jest.fn(async (tx) => (await tx.query(b.insertSql(), ['x']), 'inserted'));
      const insert = b.transact(work);
      expect(insert).toBeInstanceOf(Awaitable);
      await b.drain();
      expect(work).not.toHaveBeenCalled();
      expect(await insert).toBe('inserted');
      expect(await insert).toBe('inserted');
      expect(work).toHaveBeenCalledTimes(2);
      expect(await b.names()).toEqual(['x', 'x']);
    }));

  it('resolves with the last value, like lastValueFrom, and with undefined when the work emits nothing', () =>
    withItems(t, async (b) => {
      expect(await b.transact(() => from([1, 2, 3]))).toBe(3);
      expect(await b.transact(() => EMPTY)).toBeUndefined();
      expect(await b.transact(async () => undefined)).toBeUndefined();
      // lastValueFrom keeps RxJS's own rule for an empty Observable.
      await expect(lastValueFrom(b.transact(() => EMPTY))).rejects.toThrow('no elements in sequence');
    }));

  it('rejects with the typed error of a failing transaction, which was rolled back', () =>
    withItems(t, async (b) => {
      const failing = b.transact(async (tx) => {
        await tx.query(b.insertSql(), ['rolled back']);
        throw new Error('work failed');
      });
      const error = await failing.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TransactionError);
      expect((error as TransactionError).cause).toEqual(new Error('work failed'));
      await expect(failing).rejects.toBeInstanceOf(TransactionError);
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it('runs an async @transact method once per await, and its nested await joins its transaction', async () => {
    const counter = new CountingBroker(t.target());
    await counter.waitUntilRunning();
    try {
      const events: TransactionEvent[] = [];
      counter.events$.subscribe((e) => events.push(e));
      expect(await counter.add('a')).toBe(1);
      expect(await counter.add('b')).toBe(2);
      expect(await counter.count()).toBe(2);
      // add()'s count() joined add's transaction: three transactions queued, not five.
      expect(events.filter((e) => e.type === 'queued').map((e) => e.method)).toEqual(['add', 'add', 'count']);
      // Subscribed through from(): cold, and every value.
      expect(await lastValueFrom(from(counter.count()).pipe(toArray()))).toEqual([2]);
      // catch and finally, as the declared Promise type promises.
      const done = jest.fn();
      const caught = await counter.fail().catch((e: unknown) => e);
      await counter.count().finally(done);
      expect(caught).toBeInstanceOf(TransactionError);
      expect(done).toHaveBeenCalledTimes(1);
      expect(await counter.count()).toBe(2);
    } finally {
      await counter.dropItems();
      await counter.shutdown();
    }
  });

  it('awaits query() and prepare().query()', () =>
    withItems(t, async (b) => {
      await b.query(b.insertSql(), ['q']);
      const rows = await b.query<{ name: string }>(`SELECT name FROM ${b.itemsTable}`);
      expect(rows).toEqual([{ name: 'q' }]);
      const byName = b.prepare<{ n: number }>(
        'count_by_name',
        `SELECT count(*) AS n FROM ${b.itemsTable} WHERE name = ${b.dialect === 'postgres' ? '$1' : '?'}`,
      );
      const [row] = await byName.query(['q']);
      expect(Number(row!.n)).toBe(1);
      // A refused parameter rejects the await as it fails the Observable.
      await expect(b.query('SELECT 1', [() => 1])).rejects.toMatchObject({ name: 'InvalidParameterError' });
    }));

  it('awaits run() and produceRows()', () =>
    withItems(t, async (b) => {
      expect(await b.run(async () => 'ran')).toBe('ran');
      const last = await b.produceRows((v: string) => v.toUpperCase(), ['a', 'b'], b.itemsTable, 'name');
      expect(await b.names()).toEqual(['A', 'B']);
      const [, second] = await lastValueFrom(b.query<{ id: number }>(`SELECT id FROM ${b.itemsTable} ORDER BY id`));
      expect(Number(last)).toBe(Number(second!.id));
    }));

  it('is used as the Observable it is by RxJS and by transaction work, and awaited by promise code', () =>
    withItems(t, async (b) => {
      const three = b.transact(() => from([1, 2, 3]));
      expect(await lastValueFrom(from(three).pipe(toArray()))).toEqual([1, 2, 3]);
      expect(
        await lastValueFrom(
          of('a', 'b').pipe(
            concatMap((name) => b.query(b.insertSql(), [name])),
            toArray(),
          ),
        ),
      ).toHaveLength(2);
      expect(await b.names()).toEqual(['a', 'b']);
      // A job of a PriorityScheduler: every value too.
      expect(await lastValueFrom(new PriorityScheduler(1).schedule(() => three).pipe(toArray()))).toEqual([1, 2, 3]);
      // Returned by transaction work: every value (an Observable, not a promise).
      expect(await lastValueFrom(b.transact(() => three).pipe(toArray()))).toEqual([1, 2, 3]);
      // Returned from an async function, it is awaited: its last value.
      expect(await lastValueFrom(b.transact(async () => three).pipe(toArray()))).toEqual([3]);
      // Promise code awaits it (a run each).
      expect(await Promise.resolve(three)).toBe(3);
      expect(await Promise.all([three, three])).toEqual([3, 3]);
      await expect(three).resolves.toBe(3);
      // Piped, it is a plain Observable.
      const piped = three.pipe(map((n) => n * 2));
      expect(piped).not.toBeInstanceOf(Awaitable);
      expect('then' in piped).toBe(false);
      expectPoolWhole(b);
    }));
});
