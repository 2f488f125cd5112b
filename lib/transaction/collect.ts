import { isObservable, toArray, type Observable } from 'rxjs';
import type { CancelToken } from '../cancel';
import { RowStream } from '../rows/row-stream';

/**
 * The values work produced: one for a value or Promise, each for an
 * Observable. A RowStream (or a Promise of one) is read inside the
 * transaction: with `emit`, each row goes out as it is read and the
 * transaction stays open until the last (sAsync's ResultProxy iteration);
 * without, the rows are collected. An Observable is unsubscribed when
 * `token` aborts.
 */
export function collect(result: unknown, emit?: (value: unknown) => void, token?: CancelToken): Promise<unknown[]> {
  // A Promise (most work is an async function) is followed with one then(): no async function and await.
  if (result instanceof Promise) return result.then((value: unknown) => collected(value, emit, token));
  if (isObservable(result) && !(result instanceof RowStream)) return gather(result, token);
  return Promise.resolve(result).then((value: unknown) => collected(value, emit, token));
}

/** The values of `value`, work's result once awaited. */
function collected(
  value: unknown,
  emit: ((value: unknown) => void) | undefined,
  token: CancelToken | undefined,
): unknown[] | Promise<unknown[]> {
  if (value instanceof RowStream) {
    if (!emit) return gather(value, token);
    return value.consume((row) => emit(row)).then(() => []);
  }
  if (isObservable(value)) return gather(value, token);
  return [value];
}

/** All values of an Observable; unsubscribed when the transaction is cancelled, so nothing runs on after it. */
function gather(source: Observable<unknown>, token: CancelToken | undefined): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const subscription = source.pipe(toArray()).subscribe({ next: resolve, error: reject });
    const stop = token?.onAbort((reason) => {
      subscription.unsubscribe();
      reject(reason as Error);
    });
    subscription.add(() => stop?.());
  });
}
