import { ROWS_PER_STATEMENT } from './statement';
import { DELETED } from './write-queue';

/**
 * Orders stored key texts as the unique indexes of the store tables do with
 * a binary collation (UTF-8 bytes: sqlite's BINARY, postgres's "C"). Any one
 * order shared by every writer keeps them from deadlocking each other; this
 * one also matches the lock order of an index scan wherever the database
 * compares text bytewise.
 */
export function storedOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Consecutive keys of one kind of write: each run becomes one statement. */
export interface WriteRun {
  readonly deleted: boolean;
  readonly keys: string[];
}

/**
 * A batch's writes in {@link storedOrder}, cut into runs of sets or deletes
 * of at most ROWS_PER_STATEMENT keys: the statements lock rows in key order.
 */
export function* writeRuns(writes: ReadonlyMap<string, string | typeof DELETED>): Generator<WriteRun> {
  const keys = [...writes.keys()].map((text) => [Buffer.from(text), text] as const);
  keys.sort(([a], [b]) => Buffer.compare(a, b));
  let run: WriteRun | undefined;
  for (const [, text] of keys) {
    const deleted = writes.get(text) === DELETED;
    if (!run || run.deleted !== deleted || run.keys.length >= ROWS_PER_STATEMENT) {
      if (run) yield run;
      run = { deleted, keys: [] };
    }
    run.keys.push(text);
  }
  if (run) yield run;
}
