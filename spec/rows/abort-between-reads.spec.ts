import { lastValueFrom } from 'rxjs';
import { CancelledError } from '../../lib';
import { expectPoolWhole, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

/**
 * An abort while the consumer holds a batch and no read is in flight (found
 * by the model soak on postgres: the interrupted stream's socket was
 * destroyed, then closing its portal waited for an answer that never came,
 * and the stream never settled).
 */
describe.each(allTargets)('a stream aborted between reads [$name]', (t) => {
  it(`settles at once and gives its connection back [${t.name}]`, () =>
    withItems(t, async (b) => {
      for (const name of ['a', 'b', 'c', 'd']) await lastValueFrom(b.query(b.insertSql(), [name]));
      for (let round = 0; round < 5; round++) {
        const controller = new AbortController();
        const seen: string[] = [];
        const stream = b.stream<{ name: string }>(`SELECT name FROM ${b.itemsTable} ORDER BY id`, [], {
          batchSize: 1,
          signal: controller.signal,
        });
        const error = await stream
          .consume(async (row) => {
            seen.push(row.name);
            // The read of the next batch has not started: the handler holds this one.
            if (seen.length === 2) controller.abort(new Error('enough'));
            await new Promise((resolve) => setImmediate(resolve));
          })
          .catch((e: unknown) => e);
        expect(error).toBeInstanceOf(CancelledError);
        expect(seen).toEqual(['a', 'b']);
        await b.drain();
        expectPoolWhole(b);
      }
    }));
});
