import type { ChangeBus } from '../dialect';
import { noticeHint } from './notice';

/** What a group's listener hears: other stores' changes to the group. */
export interface GroupListener {
  /** Another store wrote these keys (as stored, not yet checked: a notice is only a hint). */
  keys(texts: readonly string[]): void;
  /**
   * Anything in the group may have changed: a notice claims a clear or
   * cannot be understood, or notices may have been missed (the listening
   * connection was down, or was not listening yet).
   */
  group(): void;
}

/** Where a group listens: its bus (once open), its channel, and who it is. */
export interface ListenSource {
  readonly bus: Promise<ChangeBus>;
  channel(): string;
  readonly group: string;
  /** This store's own notices are not heard. */
  readonly origin: string;
}

/**
 * Listens on a group's channel once its bus is open and tells `listener`
 * what other stores changed: a notice is only ever a hint of what to read
 * again (anyone may NOTIFY on the channel, see noticeHint). Returns the
 * function that stops listening; it may be called before the bus opened.
 */
export function listenToGroup(source: ListenSource, listener: GroupListener): () => void {
  let stopped = false;
  let stop: (() => void) | undefined;
  source.bus.then(
    (bus) => {
      if (stopped) return;
      const resync = () => listener.group();
      const notice = (payload: string) => {
        if (stopped) return;
        const hint = noticeHint(payload, source.group, source.origin);
        if (hint === 'group') listener.group();
        else if (hint && hint.length > 0) listener.keys(hint);
      };
      const unlisten = bus.listen(source.channel(), { notice, resync });
      // LISTEN sees only what commits after it: what the store read before
      // its first LISTEN took effect is read again once it has.
      let unwatch: (() => void) | undefined;
      if (bus.state !== 'listening') {
        unwatch = bus.onState((state) => {
          if (state !== 'listening') return;
          unwatch?.();
          unwatch = undefined;
          resync();
        });
      }
      stop = () => {
        unwatch?.();
        unlisten();
      };
    },
    () => undefined,
  );
  return () => {
    stopped = true;
    stop?.();
    stop = undefined;
  };
}
