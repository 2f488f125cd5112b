import { BusListeners } from '../bus-listeners';
import type { ChangeBus } from '../change-bus';

/**
 * The change bus of a database that cannot carry notices (sqlite):
 * `committed()` hands the notice to this process's listeners and nothing
 * goes through the database (the change log's reader notices other
 * processes' commits by polling `PRAGMA data_version`: see
 * changes/data-version.ts). There is no connection to lose, so `resync()`
 * is never called. The caller releases
 * nothing but what it holds: the functions `listen()` returned, or `close()`.
 */
export function openLocalBus(): ChangeBus {
  const listeners = new BusListeners();

  return {
    announce: async () => undefined,

    committed(channel, payload) {
      // Delivered in a microtask, never inside the committing caller's own
      // code; microtasks run in order, so notices arrive in commit order.
      queueMicrotask(listeners.deliverer(channel, (listener) => listener.notice(payload)));
    },

    listen(channel, listener) {
      const remove = listeners.add(channel, listener);
      listeners.setState('listening');
      return () => {
        remove();
        if (listeners.channels.size === 0 && listeners.state === 'listening') listeners.setState('idle');
      };
    },

    get state() {
      return listeners.state;
    },

    onState: (observer) => listeners.onState(observer),

    async close() {
      if (listeners.state === 'closed') return;
      listeners.clear();
      listeners.setState('closed');
      listeners.dropObservers();
    },
  };
}
