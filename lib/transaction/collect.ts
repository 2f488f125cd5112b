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
export async function collect(
  result: unknown,
  emit?: (value: unknown) => void,
  token?: CancelToken,
): Promise<unknown[]> {
  const value = isObservable(result) && !(result instanceof RowStream) ? result : await result;
  if (value instanceof RowStream) {
    if (!emit) return gather(value, token);
    await value.consume((row) => emit(row));
    return [];
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
