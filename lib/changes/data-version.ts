import { clock, type TimerHandle } from '../clock';
import type { ReadRows } from './log-dialect';

/** sqlite's default poll interval for other processes' commits, in ms. */
export const DEFAULT_POLL_INTERVAL = 25;

/**
 * Notices other connections' commits to a sqlite file: `PRAGMA
 * data_version` (one connection's counter, which moves only when another
 * connection commits) read every `interval` ms of sasync's clock, calling
 * `changed()` when it moved (and after the first read, which has nothing
 * to compare with). It runs only between start and the function
 * returned (while someone listens); `read()` gives the current way to run a
 * statement, or undefined to skip a turn.
 */
export function pollDataVersion(read: () => ReadRows | undefined, interval: number, changed: () => void): () => void {
  let stopped = false;
  let timer: TimerHandle | undefined;
  let last: number | undefined;

  const schedule = () => {
    if (!stopped) timer = clock.setTimeout(tick, interval, { unref: true });
  };
  const tick = () => {
    timer = undefined;
    const run = read();
    if (!run) return schedule();
    run<{ data_version: number }>({ sql: 'PRAGMA data_version', parameters: [] }).then(
      ([row]) => {
        const now = row?.data_version;
        // The first poll wakes the reader too: a commit between the reader's
        // first read and this baseline moved nothing the poller could see.
        if (!stopped && now !== undefined && now !== last) changed();
        last = now;
        schedule();
      },
      () => schedule(),
    );
  };
  schedule();
  return () => {
    stopped = true;
    if (timer !== undefined) clock.clearTimeout(timer);
    timer = undefined;
  };
}
