import type { BusListener, BusState, ChangeBus } from '../dialect';

/** One registration: a listener added twice is two entries, each removed by its own function. */
interface Entry {
  readonly listener: BusListener;
}

/**
 * The change bus of a database that cannot carry notices (sqlite): every
 * writer is in this process, so `committed()` hands the notice to this
 * process's listeners and nothing goes through the database. There is no
 * connection to lose, so `resync()` is never called. The caller releases
 * nothing but what it holds: the functions `listen()` returned, or `close()`.
 */
export function openLocalBus(): ChangeBus {
  const channels = new Map<string, Set<Entry>>();
  const observers = new Set<(state: BusState) => void>();
  let state: BusState = 'idle';

  function setState(next: BusState): void {
    if (next === state) return;
    state = next;
    for (const observer of [...observers]) guarded(() => observer(next));
  }

  return {
    announce: async () => undefined,

    committed(channel, payload) {
      const entries = channels.get(channel);
      if (!entries) return;
      // Delivered in a microtask, never inside the committing caller's own
      // code; microtasks run in order, so notices arrive in commit order.
      const targets = [...entries];
      queueMicrotask(() => {
        for (const entry of targets) {
          // One removed meanwhile asked to hear nothing more.
          if (entries.has(entry)) guarded(() => entry.listener.notice(payload));
        }
      });
    },

    listen(channel, listener) {
      if (state === 'closed') throw new Error('the change bus is closed');
      const entry: Entry = { listener };
      let entries = channels.get(channel);
      if (!entries) channels.set(channel, (entries = new Set()));
      entries.add(entry);
      setState('listening');
      const set = entries;
      return () => {
        if (!set.delete(entry)) return;
        if (set.size === 0 && channels.get(channel) === set) channels.delete(channel);
        if (channels.size === 0 && state === 'listening') setState('idle');
      };
    },

    get state() {
      return state;
    },

    onState(observer) {
      const own = (s: BusState) => observer(s);
      observers.add(own);
      return () => void observers.delete(own);
    },

    async close() {
      if (state === 'closed') return;
      // Cleared sets also stop notices already queued for delivery.
      for (const entries of channels.values()) entries.clear();
      channels.clear();
      setState('closed');
      observers.clear();
    },
  };
}

/**
 * Runs a listener's or observer's code. Its failure is its own business:
 * thrown on, it would skip the ones after it, which did nothing wrong, and
 * crash the process as an uncaught error in a microtask.
 */
function guarded(fn: () => void): void {
  try {
    fn();
  } catch {
    /* see above */
  }
}
