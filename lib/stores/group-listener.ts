import type { ChangeLog } from '../changes/change-log';
import type { ResyncReason } from '../changes/listener';
import type { ReaderHost } from '../changes/reader';

/** What a group's listener hears: other stores' changes to the group, from the change log. */
export interface GroupListener {
  /** Another store wrote these keys (as stored, not yet checked: an entry is only a hint). */
  keys(texts: readonly string[]): void;
  /** Anything in the group may have changed: a clear, too many keys to list, or it just began listening. */
  group(): void;
  /** Entries may have been lost (pruned before they were read, the log made again): re-read everything, and say so. */
  resync(reason: ResyncReason, error?: unknown): void;
}

/** Where a group listens: its DataSource's change log (once open), and who it is. */
export interface ListenSource {
  readonly log: Promise<ChangeLog>;
  /** The store table whose entries it hears. */
  readonly kind: string;
  readonly group: string;
  /** This store's own entries are not heard. */
  readonly origin: string;
  /** How the reader runs its queries while this group listens. */
  readonly host: ReaderHost;
}

/**
 * Registers with the DataSource's change log reader once it is open, and
 * tells `listener` what other stores changed. Returns the function that
 * stops listening; it may be called before the log opened.
 */
export function listenToGroup(source: ListenSource, listener: GroupListener): () => void {
  let stopped = false;
  let stop: (() => void) | undefined;
  source.log.then(
    (log) => {
      if (stopped) return;
      const { kind, group, origin } = source;
      stop = log.listen(
        {
          kind,
          groupId: group,
          origin,
          keys: (texts) => !stopped && listener.keys(texts),
          group: () => !stopped && listener.group(),
          resync: (reason, error) => !stopped && listener.resync(reason, error),
        },
        source.host,
      );
    },
    () => undefined,
  );
  return () => {
    stopped = true;
    stop?.();
    stop = undefined;
  };
}
