/** Why a reader asks its stores to re-read everything they hold. */
export type ResyncReason =
  /** Entries the reader had not read were pruned (it was stopped, or behind, longer than the retention). */
  | 'retention'
  /** The log was made again (dropped and created) since the reader's position: what was in it is gone. */
  | 'log-lost'
  /** Reading the log failed (the table missing, the connection lost); it reads from its position again now. */
  | 'log-unreadable';

/** A store group listening to the change log through its DataSource's reader. */
export interface LogListener {
  /** The store table whose entries it hears (`sasync_items`, `sasync_array`). */
  readonly kind: string;
  /** The group as stored. */
  readonly groupId: string;
  /** Its own entries (written by this store instance) are not delivered to it. */
  readonly origin: string;
  /** Other stores changed these keys (as stored; a hint of what to read again, never data). */
  keys(texts: readonly string[]): void;
  /** Anything in the group may have changed (a clear, too many keys to list, or it just began listening). */
  group(): void;
  /** Entries may have been lost: say so in the change stream, then re-read everything. */
  resync(reason: ResyncReason, error?: unknown): void;
}
