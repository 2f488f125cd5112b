import { lastValueFrom } from 'rxjs';
import { withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

describe.each(allTargets)('run() whose function queues work of its own [$name]', (t) => {
  it('lets that work run instead of waiting for the slot run() holds, one at a time on sqlite', () =>
    withItems(t, async (b) => {
      const result = await lastValueFrom(
        b.run(async () => {
          await lastValueFrom(b.query(b.insertSql(), ['from run']));
          const both = await Promise.all([
            lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['a']))),
            lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['b']))),
          ]);
          return both.length;
        }),
      );
      expect(result).toBe(2);
      expect((await b.names()).sort()).toEqual(['a', 'b', 'from run']);
    }));
});
