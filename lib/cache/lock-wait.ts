import { filter, type Observable } from 'rxjs';
import { clock } from '../clock';
import { TimeoutError } from '../errors';
import type { CacheLock } from './backend';

/** How a lock is waited for. */
export interface LockWaitOptions {
  /** Longest wait in ms before TimeoutError. */
  readonly timeout: number;
  /** Changes of keys made elsewhere: a change of this key (the holder stored it) retries at once. */
  readonly changed$?: Observable<string | undefined>;
}

const FIRST_PAUSE = 5;
const LONGEST_PAUSE = 250;

/**
 * Tries `take` until it gives a lock: after each refusal, waits on `clock`
 * (5 ms doubling to 250 ms) or until `changed$` reports the key, whichever
 * comes first; gives up with TimeoutError after `timeout`. The timer and
 * the subscription are released on every exit path.
 */
export async function waitForLock(
  key: string,
  take: () => Promise<CacheLock | undefined>,
  options: LockWaitOptions,
): Promise<CacheLock> {
  const deadline = clock.now() + options.timeout;
  let pause = FIRST_PAUSE;
  for (;;) {
    const lock = await take();
    if (lock) return lock;
    const left = deadline - clock.now();
    if (left <= 0) {
      throw new TimeoutError(
        `waited ${options.timeout} ms for the cache lock of ${JSON.stringify(key)}, held by another process ` +
          'making its value: raise lockTimeout if its creator takes that long, or find out what holds it',
        { timeout: options.timeout },
      );
    }
    await pauseOrChange(key, Math.min(pause, left), options.changed$);
    pause = Math.min(pause * 2, LONGEST_PAUSE);
  }
}

function pauseOrChange(key: string, ms: number, changed$: Observable<string | undefined> | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      subscription?.unsubscribe();
      resolve();
    };
    // Not unref'd: a caller is waiting for this lock, and the process must stay up for it.
    const timer = clock.setTimeout(done, ms);
    const subscription = changed$?.pipe(filter((k) => k === undefined || k === key)).subscribe(done);
  });
}
