/**
 * What an entry says happened: a key set or deleted, the group cleared,
 * anything in the group ('all': too many keys to list), or, from retention,
 * entries up to a horizon pruned.
 */
export type ChangeOp = 'set' | 'delete' | 'clear' | 'all' | 'pruned';

/** One change a write transaction appends: `name` is the key as stored, null for the whole group. */
export interface ChangeEntry {
  readonly name: string | null;
  readonly op: ChangeOp;
}

/** More keys than this in one batch are logged as one 'all' entry (the readers re-read the group). */
export const MAX_ENTRIES_PER_WRITE = 500;

/** The entries of a write: the keys as they are, or one 'all' when there are too many. */
export function boundedEntries(entries: readonly ChangeEntry[]): readonly ChangeEntry[] {
  return entries.length <= MAX_ENTRIES_PER_WRITE ? entries : [{ name: null, op: 'all' }];
}

/** Who appends: the store table and group written, the writing store instance, the writer's time. */
export interface AppendMeta {
  readonly kind: string;
  readonly grp: string;
  readonly origin: string | null;
  readonly at: number;
}

/** An entry as a reader gets it back, in commit order. */
export interface LoggedChange {
  /** The store table it is about (`sasync_items`, `sasync_array`), or `sasync_changes` for retention's marks. */
  readonly kind: string;
  readonly grp: string;
  readonly name: string | null;
  readonly op: string;
  /** The writing store instance (a store skips its own entries); null when unknown. */
  readonly origin: string | null;
}
