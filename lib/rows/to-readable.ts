import { Readable } from 'node:stream';
import { TextEncoding, type RowFormat } from './row-format';

/**
 * A Node Readable over a stream's batches that reads the next batch only
 * when the sink asks (`_read`) and stops as soon as `push()` says its buffer
 * is full: a slow sink (an HTTP client on a slow line) slows the database
 * reads instead of filling memory. It opens the batches on the first read,
 * and closes them (the cursor, and the connection it holds) on end, error
 * and `destroy()`; 'close' is emitted once they are closed.
 */
export function rowsReadable<T>(open: () => AsyncIterator<T[]>, format: RowFormat, signal?: AbortSignal): Readable {
  return new RowsReadable(open, format, signal);
}

class RowsReadable<T> extends Readable {
  readonly #open: () => AsyncIterator<T[]>;
  readonly #text: TextEncoding | undefined;
  readonly #signal: AbortSignal | undefined;
  #batches: AsyncIterator<T[]> | undefined;
  #reading = false;
  /** The sink asked for more (`_read`), perhaps while a batch was being pushed. */
  #wanted = false;

  constructor(open: () => AsyncIterator<T[]>, format: RowFormat, signal?: AbortSignal) {
    super({ objectMode: format === 'objects' });
    this.#open = open;
    this.#text = format === 'objects' ? undefined : new TextEncoding(format);
    this.#signal = signal;
    // Aborted while the sink is full, no read is under way to see it: read once now, which fails at once.
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  override _read(): void {
    // Node may ask again while a batch is being pushed: remembered, never lost.
    this.#wanted = true;
    if (!this.#reading) void this.#pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    // Waits for a read under way: the cursor is never closed under one.
    const closing = this.#batches?.return?.() ?? Promise.resolve();
    closing.then(
      () => callback(error),
      (closeError: unknown) => callback(error ?? (closeError as Error)),
    );
  }

  readonly #onAbort = (): void => this._read();

  /** Reads batches while the sink has room; one pump at a time. */
  async #pump(): Promise<void> {
    this.#reading = true;
    try {
      this.#batches ??= this.#open();
      while (this.#wanted) {
        this.#wanted = false;
        const result = await this.#batches.next();
        if (this.destroyed) return;
        if (result.done) {
          const tail = this.#text?.end();
          if (tail) this.push(tail);
          // Ended: an abort from now on has nothing to stop.
          this.#signal?.removeEventListener('abort', this.#onAbort);
          this.push(null);
          return;
        }
        if (this.#deliver(result.value)) this.#wanted = true;
      }
    } catch (err) {
      this.destroy(err as Error);
    } finally {
      this.#reading = false;
    }
  }

  /** Pushes a whole batch (it is read already); whether the sink has room for more. */
  #deliver(rows: T[]): boolean {
    if (this.#text) return this.push(this.#text.batch(rows));
    let room = true;
    for (const row of rows) room = this.push(row);
    return room;
  }
}
