import type { Statement } from '../stores/statement';
import type { AppendMeta, ChangeEntry, LoggedChange } from './entry';
import type { Horizon, Position } from './position';

/** Runs one statement (at ordinary priority, on the store's broker) and resolves with its rows. */
export type ReadRows = <T>(statement: Statement) => Promise<T[]>;

/** An entry read back, with its place in the log. */
export interface ReadChange extends LoggedChange {
  readonly position: Position;
}

/** What one read of the log found. */
export interface LogRead {
  /** Entries after the position, in commit order. */
  readonly entries: readonly ReadChange[];
  /** The reader's position after taking them. */
  readonly next: Position;
  /** More entries may be readable at once (the read stopped at its limit). */
  readonly more: boolean;
  /** The log was made again since the position was taken (dropped, ids restarted): what was in between is lost. */
  readonly lost: boolean;
}

/** How a dialect appends to and reads the change log (postgres-log.ts, sqlite-log.ts). */
export interface LogDialect {
  /** The SQL value of the writing transaction's id in an appended row (NULL where ids are not needed). */
  readonly xidValue: string;
  /**
   * The driver's code for a statement naming a table that does not exist
   * (postgres `42P01`; sqlite's generic `SQLITE_ERROR`): a failed write
   * with it may have met a dropped log (see StoreGroup's write).
   */
  readonly missingTableCode: string;
  /**
   * One statement appending `entries` (see log-sql.ts), or undefined to use
   * the portable multi-row VALUES form.
   */
  append?(p: (n: number) => string, meta: AppendMeta, entries: readonly ChangeEntry[]): Statement;
  /** Where a reader starting now begins: everything committed before is in what the store reads. */
  head(read: ReadRows): Promise<Position>;
  /** A position a reader has reached once it has read everything committed before this call. */
  now(read: ReadRows): Promise<Position>;
  /** Up to `limit` entries committed and not read yet at `position`, in commit order. */
  read(read: ReadRows, position: Position, limit: number): Promise<LogRead>;
  /** Whether a reader at `position` has read everything committed before `target` (from now()). */
  reached(position: Position, target: Position): boolean;
  /**
   * Whether a reader that was at `start` may not have read every entry a
   * retention mark says was pruned (up to its horizon, the newest in
   * (xid, id) order; by the transactions it lists, if it does): then it
   * resyncs. It may say yes when unsure, never no.
   */
  missed(horizon: Horizon, start: Position): boolean;
}

/** A row of the log as the databases return it (bigints as text or number). */
export interface LogRow {
  readonly id: string | number;
  readonly xid: string | number | null;
  readonly kind: string;
  readonly grp: string;
  readonly name: string | null;
  readonly op: string;
  readonly origin: string | null;
}

export function readChange(row: LogRow): ReadChange {
  return {
    kind: row.kind,
    grp: row.grp,
    name: row.name,
    op: row.op,
    origin: row.origin,
    position: { xid: BigInt(row.xid ?? 0), id: BigInt(row.id) },
  };
}
