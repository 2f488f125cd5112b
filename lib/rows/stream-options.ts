import { checkPriority, type PriorityOptions } from '../scheduler/priority';

/** Options of `broker.stream()`. */
export interface StreamOptions extends PriorityOptions {
  /** Rows read from the database at a time (default 500): at most one batch is held in memory. */
  readonly batchSize?: number;
  /** Aborting it closes the cursor and gives the connection back. */
  readonly signal?: AbortSignal;
  /**
   * sqlite only: a column of the result whose values are unique and
   * increasing in the result's order (an integer primary key, say). The
   * stream then reads chunks by that key; without it, sqlite first copies the
   * result into a temporary table (on disk, not in memory) and reads that.
   */
  readonly key?: string;
  /** Called with the size of each batch read from the database (progress, diagnostics). */
  readonly onBatch?: (rows: number) => void;
}

export const DEFAULT_BATCH_SIZE = 500;
export const MAX_BATCH_SIZE = 100_000;

/** Checks stream options at call time. @throws RangeError */
export function checkStreamOptions(options: StreamOptions | undefined): void {
  if (options === undefined) return;
  checkPriority(options);
  const { batchSize } = options;
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH_SIZE)) {
    throw new RangeError(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, not ${String(batchSize)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('signal must be an AbortSignal');
  }
}

/** Checks `consume()`'s concurrency. @throws RangeError */
export function checkConcurrency(concurrency: number): void {
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(`concurrency must be an integer of at least 1, not ${String(concurrency)}`);
  }
}
