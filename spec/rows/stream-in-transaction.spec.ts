import { lastValueFrom } from 'rxjs';
import { withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

describe.each(allTargets)('a stream read inside a transaction [$name]', (t) => {
  it('lets the same transaction write between batches (no waiting on its own connection)', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `src ${i}`,
          Array.from({ length: 25 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const copied = await lastValueFrom(
        b.transact(async (tx) => {
          let n = 0;
          const rows = b.stream<{ name: string }>(`SELECT name FROM ${b.itemsTable} ORDER BY id`, [], { batchSize: 4 });
          for await (const row of rows) {
            await tx.query(b.insertSql(), [`copy of ${row.name}`]);
            n++;
          }
          return n;
        }),
      );
      expect(copied).toBe(25);
      const names = await b.names();
      expect(names.filter((n) => n.startsWith('copy of '))).toHaveLength(25);
    }));
});
