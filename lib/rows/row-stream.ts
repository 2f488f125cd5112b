import { isObservable, lastValueFrom, Observable, type Subscriber } from 'rxjs';
import { CancelToken } from '../cancel';
import { TransactIterationError, type CancelledError } from '../errors';
import { cancelledError as cancelledFor, reasonText } from '../transaction/cancelled';
import type { Readable } from 'node:stream';
import { checkFormat, type SinkOptions, type TextFormat } from './row-format';
import type { OpenSource, RowSource } from './row-source';
import { rowsReadable } from './to-readable';
import { rowsReadableStream } from './to-readable-stream';
import { checkConcurrency, DEFAULT_BATCH_SIZE, type StreamOptions } from './stream-options';

/** What a `consume()` handler may return: nothing, a Promise or an Observable. */
export type RowHandler<T> = (row: T) => void | PromiseLike<unknown> | Observable<unknown>;

/**
 * Result rows as a cold Observable that is also an AsyncIterable. Each
 * subscription (or iteration) opens its own cursor, reads a batch only after
 * the previous one was delivered, and closes the cursor and gives its
 * connection back on completion, error, unsubscribe, `break` or `take(n)`.
 *
 * ```ts
 * for await (const row of broker.stream('SELECT * FROM entries')) await slowWork(row);
 * await broker.stream('SELECT * FROM entries').consume(save, { concurrency: 4 });
 * ```
 */
export class RowStream<T> extends Observable<T> implements AsyncIterable<T> {
  readonly #open: OpenSource<T>;
  readonly #batchSize: number;
  readonly #options: StreamOptions;
  #iterating = false;

  /** @internal Made by a broker's `stream()` or a prepared statement's: use those. */
  constructor(open: OpenSource<T>, options: StreamOptions = {}) {
    super((subscriber) => this.#push(subscriber));
    this.#open = open;
    this.#options = options;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  }

  /** The rows in arrays of up to `batchSize`, as read from the database. */
  batches(): Observable<T[]> & AsyncIterable<T[]> {
    const batches = new Observable<T[]>((subscriber) => this.#push(subscriber, true));
    return Object.assign(batches, { [Symbol.asyncIterator]: () => this.#iterate(true) }) as Observable<T[]> &
      AsyncIterable<T[]>;
  }

  /**
   * Calls `handler` for every row, at most `concurrency` calls in flight: the
   * next batch is read only when the handlers have caught up. Resolves when
   * every row was handled; rejects with the first handler error (the cursor
   * is closed at once).
   */
  async consume(handler: RowHandler<T>, { concurrency = 1 }: { concurrency?: number } = {}): Promise<void> {
    checkConcurrency(concurrency);
    // A counter and one waiter (this loop), not a set of promises raced per
    // row; a handler that returns nothing costs no promise at all.
    let inFlight = 0;
    let failure: { error: unknown } | undefined;
    let wake: (() => void) | undefined;
    const settled = () => {
      inFlight--;
      const resume = wake;
      wake = undefined;
      resume?.();
    };
    const failed = (error: unknown) => {
      failure ??= { error };
      settled();
    };
    const waitForRoom = (room: number) =>
      inFlight > room ? new Promise<void>((resolve) => (wake = resolve)) : undefined;
    for await (const batch of this.#batchesOnce()) {
      for (const row of batch) {
        while (inFlight >= concurrency) await waitForRoom(concurrency - 1);
        if (failure) throw failure.error;
        // Cancelled while this loop holds a batch: no handler for the rest of it.
        const signal = this.#options.signal;
        if (signal?.aborted) throw cancelledError(signal.reason);
        const result = handler(row);
        if (result === undefined || result === null) continue;
        inFlight++;
        toPromise(result).then(settled, failed);
      }
    }
    while (inFlight > 0) await waitForRoom(0);
    if (failure) throw (failure as { error: unknown }).error;
  }

  /**
   * A Node Readable of the rows (objectMode), or of their text with
   * `format: 'ndjson'` or `'json'`, that reads a batch only when the sink
   * drains: `pipeline(rows.toReadable({ format: 'ndjson' }), response)`
   * holds a batch or two however slow the client. Each call opens its own
   * cursor on the first read; it is closed on end, error and `destroy()`.
   */
  toReadable(options?: SinkOptions): Readable {
    return rowsReadable(() => this.#iterate(true), checkFormat(options), this.#options.signal);
  }

  /**
   * A web ReadableStream of the rows, or of their UTF-8 text with `format:
   * 'ndjson'` or `'json'` (a `fetch` Response body), that reads a batch per
   * `pull`, only as the reader drains. Each call opens its own cursor on the
   * first pull; it is closed on end, error and `cancel()`.
   */
  toReadableStream(options?: { readonly format?: 'objects' }): ReadableStream<T>;
  toReadableStream(options: { readonly format: TextFormat }): ReadableStream<Uint8Array>;
  toReadableStream(options?: SinkOptions): ReadableStream<T> | ReadableStream<Uint8Array>;
  toReadableStream(options?: SinkOptions): ReadableStream<T> | ReadableStream<Uint8Array> {
    const stream = rowsReadableStream(() => this.#iterate(true), checkFormat(options), this.#options.signal);
    return stream as ReadableStream<T> | ReadableStream<Uint8Array>;
  }

  /**
   * The rows one by one, for `for await`; `break` closes the cursor. A row of
   * the batch in hand costs an already-resolved promise, not an async call:
   * the next batch is read only when this one is used up.
   */
  [Symbol.asyncIterator](): AsyncIterator<T> {
    const batches = this.#iterate(false);
    const signal = this.#options.signal;
    let batch: T[] = [];
    let index = 0;
    let ended = false;
    // Ended by return(): a read it cut short ends in done, not in its error.
    let returned = false;
    // A batch read in flight: a next() called meanwhile waits for it, so that
    // two racing calls never get the same row.
    let loading: Promise<IteratorResult<T>> | undefined;
    const end = () => {
      ended = true;
      batch = [];
      index = 0;
    };
    const next = (): Promise<IteratorResult<T>> => {
      if (loading) return loading.then(next, next);
      // Cancelled while the consumer holds a batch: no further row of it (an
      // abort always ends in an error, never in a short result).
      if (signal?.aborted) return cancel();
      if (index < batch.length) return Promise.resolve({ done: false, value: batch[index++]! });
      if (ended) return Promise.resolve(DONE);
      const load = batches.next().then(
        (result): Promise<IteratorResult<T>> => {
          loading = undefined;
          // Ended meanwhile by return(): no row of a batch read after it.
          if (result.done || ended) {
            end();
            return Promise.resolve(DONE);
          }
          batch = result.value;
          index = 0;
          return next();
        },
        (err: unknown) => {
          loading = undefined;
          end();
          if (returned) return DONE;
          throw err;
        },
      );
      loading = load;
      return load;
    };
    const cancel = async (): Promise<never> => {
      const reason = signal!.reason;
      end();
      await batches.return?.();
      throw cancelledError(reason);
    };
    return {
      next,
      return: async () => {
        returned = true;
        end();
        await batches.return?.();
        return DONE;
      },
    };
  }

  #batchesOnce(): AsyncIterable<T[]> {
    return { [Symbol.asyncIterator]: () => this.#iterate(false) };
  }

  /** Batches, pulled one at a time; one iteration of this stream at a time. */
  #iterate(shared: boolean): AsyncIterator<T[]> {
    if (!shared) {
      if (this.#iterating) {
        throw new TransactIterationError(
          'this RowStream is already being iterated: iterate it once at a time, or subscribe (each subscription reads again)',
        );
      }
      this.#iterating = true;
    }
    // The caller's signal is followed here, at the edge: opening and reading
    // cancel through this token (aborted too when the iteration finishes).
    const token = new CancelToken();
    const external = this.#options.signal;
    const unfollow = token.follow(external);
    let source: Promise<RowSource<T>> | undefined;
    let opened: RowSource<T> | undefined;
    let reading: Promise<unknown> | undefined;
    let finished: Promise<void> | undefined;
    // Closing waits for a read in flight: a cursor is never closed under one.
    const finish = () => {
      finished ??= (async () => {
        unlisten();
        unfollow();
        if (!shared) this.#iterating = false;
        token.abort(FINISHED);
        if (reading) opened?.interrupt?.();
        await reading?.catch(() => undefined);
        const closing = await source?.catch(() => undefined);
        await closing?.close();
      })();
      return finished;
    };
    // Registered after follow(): a signal aborted already is seen by next(), not here.
    const unlisten = token.onAbort(() => void finish());
    // An abort by the caller always ends in an error, never in a short result.
    const cancelled = () => (external?.aborted ? cancelledError(external.reason) : undefined);
    return {
      next: async () => {
        const early = cancelled();
        if (early || finished) {
          await finish();
          if (early) throw early;
          return { done: true, value: undefined };
        }
        try {
          source ??= this.#open(token).then((s) => (opened = s));
          const read = (async () => (await source).read(this.#batchSize))();
          reading = read;
          const rows = await read;
          reading = undefined;
          const late = cancelled();
          if (late) throw late;
          if (rows.length > 0) this.#options.onBatch?.(rows.length);
          if (rows.length === 0) {
            await finish();
            return { done: true, value: undefined };
          }
          return { done: false, value: rows };
        } catch (err) {
          reading = undefined;
          await finish();
          throw cancelled() ?? err;
        }
      },
      return: async () => {
        await finish();
        return { done: true, value: undefined };
      },
    };
  }

  /** Pushes rows (or batches) to a subscriber, reading the next batch after delivering this one. */
  #push(subscriber: Subscriber<T> | Subscriber<T[]>, asBatches = false): () => void {
    const batches = this.#iterate(true);
    const signal = this.#options.signal;
    const pump = async () => {
      for (;;) {
        const result = await batches.next();
        if (subscriber.closed) return;
        if (result.done) return subscriber.complete();
        if (asBatches) (subscriber as Subscriber<T[]>).next(result.value);
        else {
          for (const row of result.value) {
            if (subscriber.closed) return;
            if (signal?.aborted) throw cancelledError(signal.reason);
            (subscriber as Subscriber<T>).next(row);
          }
        }
        if (subscriber.closed) return;
      }
    };
    pump().then(
      () => batches.return?.(),
      (err: unknown) => subscriber.error(err),
    );
    return () => void batches.return?.();
  }
}

/** What an iterator returns once it is done. */
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/** Why a stream's token aborts when its iteration ends (end, error, break, unsubscribe). */
const FINISHED = new Error('the row stream finished');

/** A stream its caller's signal cancelled: CancelledError, or TimeoutError when time ran out. */
function cancelledError(reason: unknown): CancelledError {
  return cancelledFor(
    `row stream was cancelled: ${reasonText(reason)}. Its cursor was closed and its connection given back`,
    reason,
    { method: 'stream' },
  );
}

function toPromise(result: unknown): Promise<unknown> {
  if (isObservable(result)) return lastValueFrom(result, { defaultValue: undefined });
  if (typeof (result as PromiseLike<unknown> | null)?.then === 'function') return Promise.resolve(result);
  return Promise.resolve();
}
