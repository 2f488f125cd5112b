import { auditTime, concat, defer, distinctUntilChanged, map, Observable, type SchedulerLike } from 'rxjs';
import type { Change } from './change';

/**
 * `key`'s current value, then its value after each change, never the same
 * twice in a row (`same` compares); undefined while absent. Changes that
 * happen while the current value loads are not lost: the latest wins.
 */
export function watchKey<K, V>(
  changes: Observable<Change<K, V>>,
  key: K,
  current: () => Promise<V | undefined>,
  same: (a: V | undefined, b: V | undefined) => boolean,
): Observable<V | undefined> {
  return new Observable<V | undefined>((subscriber) => {
    let loaded = false;
    let latest: { value: V | undefined } | undefined;
    const subscription = changes.subscribe({
      next: (change) => {
        if (change.type !== 'clear' && change.key !== key) return;
        const value = change.type === 'set' ? change.value : undefined;
        if (loaded) subscriber.next(value);
        else latest = { value };
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
    current().then(
      (value) => {
        if (subscription.closed) return;
        loaded = true;
        subscriber.next(latest ? latest.value : value);
      },
      (error: unknown) => subscriber.error(error),
    );
    return subscription;
  }).pipe(distinctUntilChanged(same));
}

/**
 * The whole map once loaded, then again after each burst of changes: at most
 * one snapshot per `within` ms of `scheduler` time, taken at the burst's end.
 */
export function snapshots<K, V>(
  changes: Observable<Change<K, V>>,
  load: () => Promise<ReadonlyMap<K, V>>,
  current: () => ReadonlyMap<K, V>,
  within: number,
  scheduler: SchedulerLike,
): Observable<ReadonlyMap<K, V>> {
  return concat(
    defer(load),
    changes.pipe(
      auditTime(within, scheduler),
      map(() => current()),
    ),
  );
}
