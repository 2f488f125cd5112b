import type { Observable, Subscription } from 'rxjs';
import type { AccessBroker, LiveResult, TransactionEvent } from '../../../lib';
import { within } from '../../support/streams';

/** A live query subscribed, its emissions recorded, and a way to wait for one. */
export interface LiveProbe<T> {
  readonly results: LiveResult<T>[];
  readonly done: Promise<void>;
  /** The next emission (after those recorded so far) that satisfies `test`; fails after 10 s naming `what`. */
  next(what: string, test?: (r: LiveResult<T>) => boolean): Promise<LiveResult<T>>;
  /** The first emission so far, or from now on, that satisfies `test`. */
  some(what: string, test: (r: LiveResult<T>) => boolean): Promise<LiveResult<T>>;
  readonly subscription: Subscription;
}

export function probe<T>(live: Observable<LiveResult<T>>): LiveProbe<T> {
  const results: LiveResult<T>[] = [];
  const waiters: { from: number; test: (r: LiveResult<T>) => boolean; resolve: (r: LiveResult<T>) => void }[] = [];
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((resolve, reject) => ((finish = resolve), (fail = reject)));
  done.catch(() => undefined);
  const subscription = live.subscribe({
    next(r) {
      results.push(r);
      for (const w of [...waiters]) {
        if (w.test(r)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(r);
        }
      }
    },
    error: (e: unknown) => fail(e),
    complete: () => finish(),
  });
  return {
    results,
    done,
    subscription,
    some(what, test) {
      const seen = results.find(test);
      return seen ? Promise.resolve(seen) : this.next(what, test);
    },
    next(what, test = () => true) {
      const p = new Promise<LiveResult<T>>((resolve) => waiters.push({ from: results.length, test, resolve }));
      return within(Promise.race([p, done.then(() => Promise.reject(new Error(`completed before ${what}`)))]), what);
    },
  };
}

/** Counts the broker's live re-runs (each is a `live` statement in events$). */
export function liveRuns(b: AccessBroker): { readonly count: number; stop(): void } {
  let count = 0;
  const sub = b.events$.subscribe((e: TransactionEvent) => {
    if (e.type === 'started' && e.method === 'live') count++;
  });
  return {
    get count() {
      return count;
    },
    stop: () => sub.unsubscribe(),
  };
}
