import { lastValueFrom, toArray } from 'rxjs';
import { withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, ph } from '../support/targets';

async function fill(b: ItemsBroker, n: number): Promise<void> {
  await lastValueFrom(
    b.produceRows(
      (i: number) => `n${i}`,
      Array.from({ length: n }, (_, i) => i + 1),
      b.itemsTable,
      'name',
    ),
  );
}

describe.each(allTargets)('stream() overloads [$name]', (t) => {
  it('takes a QueryBuilder and its options, with no parameter list in between', () =>
    withItems(t, async (b) => {
      await fill(b, 5);
      const qb = b.dataSource
        .createQueryBuilder()
        .select('i.name', 'name')
        .from(b.itemsTable, 'i')
        .where('i.id > :min', { min: 1 })
        .orderBy('i.id');
      const batches: number[] = [];
      const rows = await lastValueFrom(
        b.stream<{ name: string }>(qb, { batchSize: 2, onBatch: (n) => batches.push(n) }).pipe(toArray()),
      );
      expect(rows.map((r) => r.name)).toEqual(['n2', 'n3', 'n4', 'n5']);
      expect(batches.slice(0, 2)).toEqual([2, 2]);
    }));

  it('still takes SQL, parameters and options', () =>
    withItems(t, async (b) => {
      await fill(b, 5);
      const batches: number[] = [];
      const sql = `SELECT name FROM ${b.itemsTable} WHERE id > ${ph(b.dialect, 1)} ORDER BY id`;
      const rows = await lastValueFrom(
        b.stream<{ name: string }>(sql, [2], { batchSize: 2, onBatch: (n) => batches.push(n) }).pipe(toArray()),
      );
      expect(rows.map((r) => r.name)).toEqual(['n3', 'n4', 'n5']);
      expect(batches[0]).toBe(2);
    }));

  it('checks a QueryBuilder stream’s options and refuses a parameter list beside it', () =>
    withItems(t, async (b) => {
      const qb = b.dataSource.createQueryBuilder().select('i.name', 'name').from(b.itemsTable, 'i');
      expect(() => b.stream(qb, { batchSize: 0 })).toThrow(RangeError);
      expect(() => b.stream(qb, [] as never)).toThrow(/QueryBuilder brings its own parameters/);
      expect(() => b.stream('SELECT 1', { batchSize: 2 } as never)).toThrow(/parameters must be an array/);
    }));
});
