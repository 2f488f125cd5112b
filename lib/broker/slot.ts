import type { PriorityOptions } from '../scheduler/priority';
import type { PriorityScheduler } from '../scheduler/priority-scheduler';

/**
 * Waits for a slot of `scheduler` and holds it until the returned function is
 * called. Aborting `signal` while waiting leaves the queue at once, taking
 * nothing (a caller that gives up waiting must not leak a slot).
 */
export function acquireSlot(
  scheduler: PriorityScheduler,
  priority: PriorityOptions,
  signal: AbortSignal,
): Promise<() => void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason as Error);
    let release!: () => void;
    let started = false;
    const held = new Promise<void>((r) => (release = r));
    const onAbort = () => {
      subscription.unsubscribe();
      reject(signal.reason as Error);
    };
    const subscription = scheduler
      .schedule(() => {
        started = true;
        signal.removeEventListener('abort', onAbort);
        resolve(release);
        return held;
      }, priority)
      .subscribe({ error: (err: unknown) => reject(err as Error) });
    if (!started) signal.addEventListener('abort', onAbort, { once: true });
  });
}
