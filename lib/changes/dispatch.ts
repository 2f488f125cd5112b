import { entryKeys } from './entry';
import type { ReadChange } from './log-dialect';
import type { LogListener } from './listener';
import { CHANGES_TABLE } from './log-table';
import { parseHorizon, type Horizon } from './position';

/** What one read tells one listener: the keys to read again, or the whole group. */
interface Hit {
  group: boolean;
  readonly keys: Set<string>;
}

/** Listeners by the store table and group they hear. */
export class Dispatch {
  readonly #byGroup = new Map<string, Set<LogListener>>();

  add(listener: LogListener): () => void {
    const key = groupKey(listener.kind, listener.groupId);
    let set = this.#byGroup.get(key);
    if (!set) this.#byGroup.set(key, (set = new Set()));
    set.add(listener);
    const own = set;
    return () => {
      own.delete(listener);
      if (own.size === 0 && this.#byGroup.get(key) === own) this.#byGroup.delete(key);
    };
  }

  /** Whether a listener other than `origin` hears this store table's group. */
  hears(kind: string, group: string, origin: string): boolean {
    const listeners = this.#byGroup.get(groupKey(kind, group));
    return !!listeners && [...listeners].some((l) => l.origin !== origin);
  }

  /**
   * Hands one read's entries to the listeners that care: each listener gets
   * one call per read (its keys, or its group when an entry names the whole
   * group or an operation it does not know). Entries of groups nobody here
   * listens to, and a listener's own entries, are skipped. Returns true
   * when a retention mark says entries after `start` were pruned (or a mark
   * cannot be read): then the caller resyncs everyone instead. `missed`
   * says whether a mark's horizon is beyond what was read at `start`.
   */
  deliver(entries: readonly ReadChange[], missed: (horizon: Horizon) => boolean): boolean {
    const hits = new Map<LogListener, Hit>();
    let pruned = false;
    for (const e of entries) {
      if (e.kind === CHANGES_TABLE.name) {
        if (e.op !== 'pruned') continue;
        const horizon = parseHorizon(e.name);
        if (!horizon || missed(horizon)) pruned = true;
        continue;
      }
      const listeners = this.#byGroup.get(groupKey(e.kind, e.grp));
      if (!listeners) continue;
      let keys: string[] | undefined;
      for (const listener of listeners) {
        if (e.origin === listener.origin) continue;
        let hit = hits.get(listener);
        if (!hit) hits.set(listener, (hit = { group: false, keys: new Set() }));
        if ((e.op === 'set' || e.op === 'delete') && typeof e.name === 'string') hit.keys.add(e.name);
        else if (e.op === 'keys' && (keys ??= entryKeys(e.name))) for (const k of keys) hit.keys.add(k);
        else hit.group = true;
      }
    }
    if (pruned) return true;
    for (const [listener, hit] of hits) {
      // Removed meanwhile (by an earlier listener's code): it hears nothing more.
      if (!this.#byGroup.get(groupKey(listener.kind, listener.groupId))?.has(listener)) continue;
      guarded(() => (hit.group ? listener.group() : listener.keys([...hit.keys])));
    }
    return false;
  }
}

function groupKey(kind: string, group: string): string {
  return `${kind}\u0000${group}`;
}

/** A listener's failure is its own: the others still hear, and the reader goes on. */
export function guarded(fn: () => void): void {
  try {
    fn();
  } catch {
    /* see above */
  }
}
