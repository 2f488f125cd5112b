import type { LiveBroker } from './live-broker';
import type { TableRef } from '../dialect/dialect-live';

/** What a dialect's capture tells its watcher, and what it runs its statements through. */
export interface CaptureSink {
  /**
   * A broker of the watcher's DataSource to run statements through: the
   * first of those watching that is running (the one that started the
   * watcher may have shut down); undefined once none watches.
   */
  broker(): LiveBroker | undefined;
  /** Committed changes may have touched these tables (by key). */
  changed(keys: Iterable<string>): void;
  /** Changes to these tables (all, when undefined) may have been missed. */
  resync(keys?: Iterable<string>): void;
}

/** Counts, for specs and benches. */
export interface CaptureStats {
  /** Tables captured now. */
  readonly tables: number;
  /** postgres: the change log groups listened to for them (each table of their partition trees); sqlite: the tables. */
  readonly groups: number;
  /** Reads of what changed (log reads on postgres, version reads on sqlite) since the watcher began. */
  readonly reads: number;
  /** Whether anything listens or polls now (the change log reader, sqlite's 'change' listener or its poll timer). */
  readonly active: boolean;
}

/**
 * How one dialect captures committed changes per table, for every watcher
 * share on a DataSource: `start` installs what captures a table's changes
 * and resolves once every commit from then on is reported (rejects if it
 * cannot be installed); `stop` is its last share going.
 */
export interface Capture {
  start(key: string, table: TableRef): Promise<void>;
  stop(key: string): void;
  /** The DataSource is closing: stop everything at once. */
  close(): void;
  stats(): CaptureStats;
}

/** A table's key among a watcher's tables: its schema (if given) and name. */
export function tableKey(table: TableRef): string {
  return table.schema === undefined ? `\u0000${table.name}` : `${table.schema}\u0000${table.name}`;
}

/** Resolves when `p` does, after `error` if it rejects: never leaves a rejection unhandled. */
export function quiet(p: Promise<unknown>): void {
  p.catch(() => undefined);
}
