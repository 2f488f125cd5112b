import type { ChangeLog } from '../changes/change-log';
import type { ResyncReason } from '../changes/listener';
import type { Position } from '../changes/position';
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
  /** A saved position to be told what was committed since (the store's `since` option). */
  readonly since?: Position;
}

/** A group listening: `positioned` once its reads miss nothing from then on (see ChangeReader.register). */
export interface Listening {
  /** Stops listening; may be called before the log opened. */
  readonly stop: () => void;
  /** Resolves (never rejects) once the reader has its position, or could not open or read the log. */
  readonly positioned: Promise<void>;
}

/**
 * Registers with the DataSource's change log reader once it is open, and
 * tells `listener` what other stores changed.
 */
export function listenToGroup(source: ListenSource, listener: GroupListener): Listening {
  let stopped = false;
  let stop: (() => void) | undefined;
  let positioned!: () => void;
  const ready = new Promise<void>((resolve) => (positioned = resolve));
  source.log.then(
    (log) => {
      if (stopped) return positioned();
      const { kind, group, origin } = source;
      const listening = log.listen(
        {
          kind,
          groupId: group,
          origin,
          keys: (texts) => !stopped && listener.keys(texts),
          group: () => !stopped && listener.group(),
          resync: (reason, error) => !stopped && listener.resync(reason, error),
        },
        source.host,
        source.since,
      );
      stop = listening.stop;
      void listening.positioned.then(positioned);
    },
    () => positioned(),
  );
  return {
    positioned: ready,
    stop: () => {
      stopped = true;
      positioned();
      stop?.();
      stop = undefined;
    },
  };
}
