import { isObservable, type Observable, type ObservableInput } from 'rxjs';

/** Where `produceRows` takes its values from. */
export type ValueSource<V> = Iterable<V> | AsyncIterable<V> | Observable<V>;

/**
 * What each attempt of a transaction reads `values` from. Arrays are read
 * again, Observables subscribed again (a cold one runs again; a hot one must
 * replay). Any other iterable or async iterable may be one-shot (a generator
 * is exhausted after one reading; a custom iterable may give other values the
 * second time), so it is read once, into a buffer, and every later reading (a
 * retry, another subscription) replays what the first one read, then goes on
 * reading the same iterator where it stopped. The buffer holds the values (not
 * `f`'s results) as long as the caller holds the Observable; the rows of one
 * transaction are held until COMMIT anyway.
 * @throws TypeError at once if `values` is none of these.
 */
export function replayable<V>(values: ValueSource<V>): () => ObservableInput<V> {
  if (Array.isArray(values) || isObservable(values)) return () => values;
  if (typeof (values as AsyncIterable<V> | null)?.[Symbol.asyncIterator] === 'function') {
    const replay = new AsyncReplay(values as AsyncIterable<V>);
    return () => replay.read();
  }
  if (typeof (values as Iterable<V> | null)?.[Symbol.iterator] === 'function') {
    const replay = new SyncReplay(values as Iterable<V>);
    return () => replay.read();
  }
  throw new TypeError(
    `produceRows takes its values from an array, an iterable, an async iterable or an Observable, not ${typeof values}`,
  );
}

/** The source's end or failure, once reached: every later reading ends the same way. */
type End = { readonly done: true } | { readonly failed: unknown };

class SyncReplay<V> {
  readonly #source: Iterable<V>;
  readonly #values: V[] = [];
  #iterator: Iterator<V> | undefined;
  #end: End | undefined;

  constructor(source: Iterable<V>) {
    this.#source = source;
  }

  *read(): Generator<V, void, undefined> {
    for (let i = 0; ; i++) {
      while (i >= this.#values.length && !this.#end) this.#pull();
      if (i < this.#values.length) yield this.#values[i]!;
      else if ('failed' in this.#end!) throw this.#end.failed;
      else return;
    }
  }

  #pull(): void {
    try {
      this.#iterator ??= this.#source[Symbol.iterator]();
      const step = this.#iterator.next();
      if (step.done) this.#end = { done: true };
      else this.#values.push(step.value);
    } catch (failed) {
      this.#end = { failed };
    }
  }
}

class AsyncReplay<V> {
  readonly #source: AsyncIterable<V>;
  readonly #values: V[] = [];
  #iterator: AsyncIterator<V> | undefined;
  #end: End | undefined;
  /** The one `next()` in flight: readings at the same point wait for it rather than skip a value. */
  #pulling: Promise<void> | undefined;

  constructor(source: AsyncIterable<V>) {
    this.#source = source;
  }

  async *read(): AsyncGenerator<V, void, undefined> {
    for (let i = 0; ; i++) {
      while (i >= this.#values.length && !this.#end) {
        this.#pulling ??= this.#pull().finally(() => (this.#pulling = undefined));
        await this.#pulling;
      }
      if (i < this.#values.length) yield this.#values[i]!;
      else if ('failed' in this.#end!) throw this.#end.failed;
      else return;
    }
  }

  async #pull(): Promise<void> {
    try {
      this.#iterator ??= this.#source[Symbol.asyncIterator]();
      const step = await this.#iterator.next();
      if (step.done) this.#end = { done: true };
      else this.#values.push(step.value);
    } catch (failed) {
      this.#end = { failed };
    }
  }
}
