import type { ChangeEntry } from './entry';
import type { LogDialect, ReadRows } from './log-dialect';
import { appendStatement } from './log-sql';
import { CHANGES_TABLE } from './log-table';
import { horizonText } from './position';

const T = CHANGES_TABLE.name;

/** How long the change log keeps entries (see {@link settleRetention}). */
export interface RetentionOptions {
  /** Entries older than this many ms are pruned (default one day). */
  readonly maxAge?: number;
  /** At most about this many of the newest entries are kept (default 100,000). */
  readonly maxCount?: number;
}

export interface Retention {
  readonly maxAge: number;
  readonly maxCount: number;
}

export const DEFAULT_RETENTION: Retention = { maxAge: 86_400_000, maxCount: 100_000 };

/** A prune runs after this many write transactions of this process, or this long after the last one. */
export const PRUNE_EVERY_WRITES = 1000;
export const PRUNE_EVERY_MS = 60_000;
/** A retention mark lists the pruned entries' transactions up to this many (beyond, readers judge by the horizon alone). */
export const MAX_LISTED_XIDS = 2000;

/** @throws RangeError at once for a setting that cannot work. */
export function settleRetention(options: RetentionOptions | undefined): Retention {
  const { maxAge = DEFAULT_RETENTION.maxAge, maxCount = DEFAULT_RETENTION.maxCount } = options ?? {};
  if (typeof maxAge !== 'number' || !Number.isFinite(maxAge) || maxAge < 1) {
    throw new RangeError(`changeLog.maxAge must be a finite number of ms ≥ 1, not ${String(maxAge)}`);
  }
  if (typeof maxCount !== 'number' || !Number.isSafeInteger(maxCount) || maxCount < 1) {
    throw new RangeError(`changeLog.maxCount must be a whole number ≥ 1, not ${String(maxCount)}`);
  }
  return { maxAge, maxCount };
}

/**
 * Deletes entries older than `maxAge` and all but about the newest
 * `maxCount` (by id), in the caller's short transaction: the DELETE locks
 * only the rows it removes, so writers appending new ones do not wait for
 * it. When it removed anything it appends a 'pruned' mark naming the newest
 * entry removed (its horizon): a reader whose position is below it missed
 * entries and re-reads everything it holds. Resolves with how many went.
 */
export async function prune(
  query: ReadRows,
  dialect: LogDialect,
  p: (n: number) => string,
  retention: Retention,
  now: number,
): Promise<number> {
  const [bounds] = await query<{ top: string | number | null; fresh: string | number | null }>({
    sql:
      `SELECT (SELECT max(id) FROM ${T}) AS top, ` +
      `(SELECT id FROM ${T} WHERE at >= ${p(1)} ORDER BY id LIMIT 1) AS fresh`,
    parameters: [now - retention.maxAge],
  });
  if (bounds?.top === null || bounds?.top === undefined) return 0;
  const top = BigInt(bounds.top);
  const byCount = top - BigInt(retention.maxCount);
  const byAge = bounds.fresh === null ? top : BigInt(bounds.fresh) - 1n;
  const cut = byCount > byAge ? byCount : byAge;
  if (cut < 1n) return 0;
  const [horizon] = await query<{ xid: string | number | null; id: string | number }>({
    sql: `SELECT xid, id FROM ${T} WHERE id <= ${p(1)} ORDER BY xid DESC, id DESC LIMIT 1`,
    parameters: [cut.toString()],
  });
  if (!horizon) return 0;
  const [counted] = await query<{ n: string | number }>({
    sql: `SELECT count(*) AS n FROM ${T} WHERE id <= ${p(1)}`,
    parameters: [cut.toString()],
  });
  // The transactions whose entries go, when few enough to list: a reader
  // tells exactly whether it had read them all (postgres; see LogDialect.missed).
  const xids = await query<{ xid: string | number }>({
    sql: `SELECT DISTINCT xid FROM ${T} WHERE id <= ${p(1)} AND xid IS NOT NULL ORDER BY xid LIMIT ${p(2)}`,
    parameters: [cut.toString(), MAX_LISTED_XIDS + 1],
  });
  const listed = xids.length > 0 && xids.length <= MAX_LISTED_XIDS ? xids.map((r) => BigInt(r.xid)) : undefined;
  await query({ sql: `DELETE FROM ${T} WHERE id <= ${p(1)}`, parameters: [cut.toString()] });
  const mark: ChangeEntry = {
    name: horizonText({ xid: BigInt(horizon.xid ?? 0), id: BigInt(horizon.id) }, listed),
    op: 'pruned',
  };
  await query(appendStatement(dialect, p, { kind: T, grp: '', origin: null, at: now }, [mark]));
  return Number(counted?.n ?? 0);
}
