import { clock, type TimerHandle } from '../clock';
import { TimeoutError } from '../errors';

/**
 * How long a watch waits, in all, for its table's capture to be installed
 * (postgres: its triggers wait for the writes under way on the table) before
 * it fails with TimeoutError.
 */
export const CAPTURE_INSTALL_TIMEOUT_MS = 30_000;
/** The name the install's transactions run under (events$, errors). */
export const CAPTURE_METHOD = 'live: capture table changes';
/** The pause after the first try that found the table locked; each next pause doubles, up to MAX_PAUSE_MS. */
export const FIRST_PAUSE_MS = 100;
export const MAX_PAUSE_MS = 2000;

/** A watch waiting between tries: stopping it ends the wait at once. */
export interface Waiter {
  readonly stopped: boolean;
  /** Set while a pause runs: ends it early (the watch stopped). */
  wake?: () => void;
}

/** One try: `timeout` is the budget left (ms), to bound the try's own transaction with. */
export type Try<T> = (timeout: number) => Promise<T>;

/**
 * Runs `attempt` until it succeeds, and again after a pause (100 ms, doubling
 * up to 2 s) each time it fails because a lock it needed was held, or a
 * table of the tree went away meanwhile (`mayRetry`): a table's capture
 * waits for the writes under way on it, one
 * short lock wait at a time, so that the writers that come meanwhile are not
 * held back behind it for longer than one wait. Gives up with TimeoutError
 * once {@link CAPTURE_INSTALL_TIMEOUT_MS} has passed (a try is given only the
 * time that is left, so the whole wait is bounded by it), and with the
 * try's own error when it failed otherwise. Resolves with undefined when the
 * watch stopped meanwhile: no try or timer is left behind.
 */
export async function installPatiently<T>(
  attempt: Try<T>,
  mayRetry: (error: unknown) => boolean,
  waiter: Waiter,
  table: string,
): Promise<T | undefined> {
  const deadline = clock.now() + CAPTURE_INSTALL_TIMEOUT_MS;
  let last: unknown;
  for (let pause = FIRST_PAUSE_MS, tries = 0; ; pause = Math.min(MAX_PAUSE_MS, pause * 2)) {
    const budget = deadline - clock.now();
    if (budget <= 0) throw gaveUp(table, tries, last);
    tries++;
    try {
      return await attempt(budget);
    } catch (error) {
      // The try's own timeout was the time that was left: running out of it is giving up.
      if (error instanceof TimeoutError && error.timeout === budget) throw gaveUp(table, tries, error);
      if (!mayRetry(error)) throw error;
      last = error;
    }
    if (waiter.stopped) return undefined;
    const left = deadline - clock.now();
    if (left <= 0) throw gaveUp(table, tries, last);
    await sleep(waiter, Math.min(pause, left));
    if (waiter.stopped) return undefined;
  }
}

/** Waits `ms`, or less if the watch stops meanwhile. */
function sleep(waiter: Waiter, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clock.clearTimeout(timer);
      waiter.wake = undefined;
      resolve();
    };
    const timer: TimerHandle = clock.setTimeout(done, ms);
    waiter.wake = done;
  });
}

function gaveUp(table: string, tries: number, cause: unknown): TimeoutError {
  const last = cause instanceof Error ? ` The last try: ${cause.message}` : '';
  return new TimeoutError(
    `could not install the change capture on ${table} within ${CAPTURE_INSTALL_TIMEOUT_MS} ms (${tries} tries): ` +
      'a lock it needs stayed held the whole time: a transaction left open after writing the table, DDL or ' +
      "autovacuum on it, or sasync's DDL lock held by a migration (or the broker's queue was that busy). " +
      "Nothing was installed, and each try gave up its place in the table's lock queue after a short wait, " +
      'so its other writers went on. Find the holder (pg_locks joined to pg_stat_activity), end it, and watch ' +
      `the table again.${last}`,
    { timeout: CAPTURE_INSTALL_TIMEOUT_MS, cause, attempts: tries, method: CAPTURE_METHOD },
  );
}
