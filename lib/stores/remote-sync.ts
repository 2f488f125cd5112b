import { noticeHint } from './notice';
import type { StoreGroup } from './store-group';

/** Waits until what notices started (re-reads of the table) has finished; for specs. */
export const remoteSettled = Symbol('sasync.remoteSettled');

/** What RemoteSync asks of the store's {@link Reread}. */
export interface Rereader {
  keys(texts: readonly string[], origin: 'remote'): Promise<void>;
  group(origin: 'remote'): Promise<void>;
}

/**
 * Keeps a PersistentDict's cache true to what other stores write: listens on
 * the items channel and, for each notice about its group, reads again the
 * keys it names, or the whole group for a notice that claims a clear or
 * cannot be understood. A notice is only ever a hint of what to read: anyone
 * may NOTIFY on the channel, and what the dict reports comes from the table.
 * After the listening connection was down it rereads everything the dict holds.
 */
export class RemoteSync {
  #unlisten: (() => void) | undefined;
  #stopped = false;

  constructor(
    private readonly g: StoreGroup,
    private readonly reread: Rereader,
  ) {
    g.bus.then(
      (bus) => {
        if (this.#stopped) return;
        const resync = () => void this.reread.group('remote');
        const unlisten = bus.listen(g.channel, { notice: (payload) => this.#notice(payload), resync });
        // LISTEN sees only what commits after it: what the dict read before
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
        this.#unlisten = () => {
          unwatch?.();
          unlisten();
        };
      },
      () => undefined,
    );
  }

  /** Stops listening (at shutdown, after the last flush). */
  stop(): void {
    this.#stopped = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
  }

  #notice(payload: string): void {
    if (this.#stopped) return;
    const hint = noticeHint(payload, this.g.group, this.g.origin);
    if (hint === 'group') void this.reread.group('remote');
    else if (hint && hint.length > 0) void this.reread.keys(hint, 'remote');
  }
}
