import { AsyncLocalStorage } from 'node:async_hooks';
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

/** A job holding a slot of `scheduler`, inside any outer one the caller held. */
interface Holder {
  readonly scheduler: PriorityScheduler;
  held: boolean;
  readonly outer: Holder | undefined;
}

const holders = new AsyncLocalStorage<Holder>();

/**
 * Runs `job` as the holder of a slot of `scheduler` until the Promise it
 * returns settles: what it calls meanwhile can tell (with {@link holdsSlot})
 * that it must not wait for a slot itself, or it would wait for itself.
 */
export function asHolder<T>(scheduler: PriorityScheduler, job: () => Promise<T>): Promise<T> {
  const holder: Holder = { scheduler, held: true, outer: holders.getStore() };
  return holders.run(holder, job).finally(() => (holder.held = false));
}

/**
 * Whether the caller is a job (or runs inside one) that holds a slot of
 * `scheduler` now; work a job left running after it ended does not.
 */
export function holdsSlot(scheduler: PriorityScheduler): boolean {
  for (let h = holders.getStore(); h; h = h.outer) if (h.scheduler === scheduler && h.held) return true;
  return false;
}
