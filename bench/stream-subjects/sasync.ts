import { setImmediate } from 'node:timers/promises';
import { sasyncLib } from '../sasync-lib';
import { BATCH_SIZE, type Place, type ReadResult, type SasyncMode, type StreamSubject } from './types';

type Row = { id: number; v: string };
type RowStream = ReturnType<InstanceType<ReturnType<typeof sasyncLib>['AccessBroker']>['stream']>;

/** How each mode takes every row of a stream; each counts rows and sums ids. */
const CONSUMERS: Record<SasyncMode, (stream: RowStream, take: (row: Row) => void) => Promise<void>> = {
  'for-await': async (stream, take) => {
    for await (const row of stream) take(row as Row);
  },
  consume: (stream, take) =>
    stream.consume(
      async (row) => {
        take(row as Row);
      },
      { concurrency: 4 },
    ),
  subscribe: (stream, take) =>
    new Promise((resolve, reject) =>
      stream.subscribe({ next: (row) => take(row as Row), error: reject, complete: resolve }),
    ),
  // A consumer that gives the event loop a turn every 100 rows: a producer
  // without backpressure would keep pushing rows into memory meanwhile.
  slow: (stream, take) =>
    stream.consume(
      async (row) => {
        take(row as Row);
        if ((row as Row).id % 100 === 0) await setImmediate();
      },
      { concurrency: 4 },
    ),
  batches: async (stream, take) => {
    for await (const rows of stream.batches()) for (const row of rows) take(row as Row);
  },
};

/** `broker.stream()` in one of the modes; on sqlite keyset chunks (`key: 'id'`) or the temp-table copy. */
export async function openSasyncStream(place: Place, mode: SasyncMode, keyed: boolean): Promise<StreamSubject> {
  const { AccessBroker } = sasyncLib();
  const broker = new AccessBroker(place.target, { name: 'StreamBench' });
  await broker.waitUntilRunning();
  const options = keyed ? { batchSize: BATCH_SIZE, key: 'id' } : { batchSize: BATCH_SIZE };
  return {
    async read(table) {
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      await CONSUMERS[mode](broker.stream(`SELECT * FROM "${table}"`, [], options), (row) => {
        if (seen.count++ === 0) seen.firstRowAt = performance.now();
        seen.sum += row.id;
      });
      return seen;
    },
    close: () => broker.shutdown(),
  };
}
