import { AsyncResource } from 'node:async_hooks';

/** The async context of this module's loading: outside any transaction, run() or start-up of sasync's. */
const root = new AsyncResource('sasync.live-capture');

/**
 * Runs `fn` outside whatever sasync scope is around the caller (a
 * transaction, a run(), a start-up), and so does everything it starts: the
 * watcher's statements are queued as work of their own, never joined to the
 * transaction of the code that started watching or of a write that woke a
 * read (which would have ended by the time they run).
 */
export function outsideScopes<T>(fn: () => T): T {
  return root.runInAsyncScope(fn);
}
