/**
 * What an entry says happened: a key set or deleted, several keys set or
 * deleted ('keys': `name` is a JSON array of them), the group cleared,
 * anything in the group ('all': too many keys to list), or, from retention,
 * entries up to a horizon pruned.
 */
export type ChangeOp = 'set' | 'delete' | 'keys' | 'clear' | 'all' | 'pruned';

/**
 * One change a write transaction appends: `name` is the key as stored (for
 * 'keys', the keys as a JSON array), null for the whole group.
 */
export interface ChangeEntry {
  readonly name: string | null;
  readonly op: ChangeOp;
}

/** More keys than this in one batch are logged as one 'all' entry (the readers re-read the group). */
export const MAX_ENTRIES_PER_WRITE = 500;

/**
 * The rows a write appends: one 'all' when there are too many keys, else
 * its keys set or deleted in one 'keys' row (a row per key cost a write of
 * 100 keys a quarter of its time on postgres), and its other entries as
 * they are. Readers re-read the keys named, so which of them were set and
 * which deleted need not be told. A reader of an older version sees an op
 * it does not know, and re-reads the whole group: slower, never wrong.
 */
export function boundedEntries(entries: readonly ChangeEntry[]): readonly ChangeEntry[] {
  if (entries.length > MAX_ENTRIES_PER_WRITE) return [{ name: null, op: 'all' }];
  const keys: string[] = [];
  const others: ChangeEntry[] = [];
  for (const e of entries) {
    if ((e.op === 'set' || e.op === 'delete') && e.name !== null) keys.push(e.name);
    else others.push(e);
  }
  if (keys.length < 2) return entries;
  return [...others, { name: JSON.stringify(keys), op: 'keys' }];
}

/** The keys a 'keys' entry names, or undefined when its name is not a JSON array of strings (forged or corrupt). */
export function entryKeys(name: string | null): string[] | undefined {
  try {
    const keys: unknown = JSON.parse(name ?? '');
    return Array.isArray(keys) && keys.every((k) => typeof k === 'string') ? (keys as string[]) : undefined;
  } catch {
    return undefined;
  }
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
