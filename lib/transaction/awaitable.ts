import { lastValueFrom, Observable } from 'rxjs';

/**
 * A cold Observable that can also be awaited: what `transact()`, a
 * transaction method, a `@transact` method, `query()`, `prepare().query()`,
 * `run()` and `produceRows()` return.
 *
 * Subscribing runs the work once per subscription, as before. Awaiting it
 * (or calling `then`, `catch` or `finally`) subscribes once per call and
 * resolves with the last value, like RxJS's `lastValueFrom`; it rejects with
 * the same typed error a subscriber gets (`TransactionError`,
 * `CancelledError`, …). Each call is a run of its own: awaiting one
 * Awaitable twice runs its transaction twice. Work that emits nothing (an
 * Observable or RowStream work that completes empty, `produceRows` of no
 * values) resolves with `undefined`, not with RxJS's `EmptyError`: the
 * transaction committed, and a rejection would say it had not.
 *
 * It is not a Promise: nothing runs until it is awaited or subscribed, and
 * there is no result kept for a second `then`. What follows from that:
 * - `Promise.resolve(x)`, `Promise.all([x])`, jest's `expect(x).resolves`
 *   and `return x` from an `async` function all run it (once each).
 * - `from(x)`, `lastValueFrom(x)`, `concatMap(() => x)` and returning it
 *   from a plain (not `async`) transaction work function use it as the
 *   Observable it is (all its values). Returned from an `async` work
 *   function, the function's Promise has already awaited it: the work's
 *   result is its last value.
 * - `pipe(…)` gives a plain Observable, which is not awaitable.
 *
 * ```ts
 * const n = await broker.transact(async (tx) => (await tx.query('SELECT 1 AS n'))[0].n);
 * broker.transact(work).subscribe(console.log); // still cold, still cancellable
 * ```
 */
export class Awaitable<T> extends Observable<T> implements PromiseLike<T> {
  /** Runs it once; settles with its last value (`undefined` if it emitted none) or its error. */
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return lastValueFrom(this, { defaultValue: undefined as T }).then(onfulfilled, onrejected);
  }

  /**
   * Runs it once, like `then(undefined, onrejected)`: here so that a
   * `@transact` method declared `async … : Promise<T>` has every method its
   * type promises.
   */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onrejected);
  }

  /** Runs it once, and calls `onfinally` when it has settled (see {@link catch}). */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then().finally(onfinally);
  }
}
