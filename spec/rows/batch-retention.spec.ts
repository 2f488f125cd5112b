import v8 from 'node:v8';
import vm from 'node:vm';
import type { ItemsBroker } from '../support/brokers';
import { allItemsSql, releaseCheckedRun } from '../support/streams';
import { allTargets } from '../support/targets';

const ROWS = 1_000;
const BATCH = 100;

/** A full garbage collection, from inside jest (no --expose-gc on its workers). */
function collectGarbage(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

// A stream holds the batch it is reading, not the ones it gave away: memory
// stays flat however long the result (a postgres read raced against a promise
// that lived as long as the stream kept every batch until the end).
describe.each(allTargets)('a row stream keeps no batch once delivered [$name]', (t) => {
  const run = releaseCheckedRun(t, `sasync-rows-retention-${process.pid}`, ROWS);
  const gc = collectGarbage();

  const firstBatchCollected = async (b: ItemsBroker, rowByRow: boolean) => {
    let first: WeakRef<object> | undefined;
    let seen = 0;
    let collected: boolean | undefined;
    const stream = b.stream<{ id: number }>(allItemsSql(b), [], { batchSize: BATCH });
    const rows = rowByRow ? stream : stream.batches();
    for await (const item of rows as AsyncIterable<unknown>) {
      // The first row (or batch) is held by nothing of ours once the loop moves on.
      first ??= new WeakRef(item as object);
      seen += rowByRow ? 1 : (item as unknown[]).length;
      if (seen === 5 * BATCH) {
        gc();
        collected = first.deref() === undefined;
      }
    }
    expect(seen).toBe(ROWS);
    return collected;
  };

  it('batches(): the first batch is collected while later ones are read', () =>
    run(async (b) => expect(await firstBatchCollected(b, false)).toBe(true)));

  it('for await: the first row is collected while later ones are read', () =>
    run(async (b) => expect(await firstBatchCollected(b, true)).toBe(true)));
});
