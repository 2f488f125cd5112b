import { latch, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

describe.each(allTargets)('produceRows() cancelled part way [$name]', (t) => {
  it('writes nothing, not even after the rollback', () =>
    withItems(t, async (b) => {
      // Values 0 and 1 are produced at once; from 2 on, f waits until the test lets it go.
      const waiting = latch();
      const go = latch();
      const late: Promise<string>[] = [];
      const f = (i: number): string | Promise<string> => {
        if (i < 2) return `n${i}`;
        const produced = go.promise.then(() => `n${i}`);
        late.push(produced);
        waiting.resolve();
        return produced;
      };
      const sub = b
        .produceRows(
          f,
          Array.from({ length: 40 }, (_, i) => i),
          b.itemsTable,
          'name',
          {},
          { concurrency: 2 },
        )
        .subscribe({ error: () => undefined });
      await waiting.promise;
      sub.unsubscribe();
      // Results that arrive after the cancellation must not be inserted either.
      go.resolve();
      await Promise.all(late);
      await b.drain();
      expect(await b.names()).toEqual([]);
    }));
});
