/**
 * Where a reader is in the log.
 *
 * On sqlite, `id` alone: the reader has read every entry up to it (xid is
 * always 0; rowid order is commit order there).
 *
 * On postgres ids and xids are taken when a row is inserted, not when its
 * transaction commits, so no single number can say what was read. The
 * position is a snapshot instead (`pg_current_snapshot()` taken by the read
 * itself): every entry written by a transaction that had finished in it
 * has been read, and nothing else. A read that stopped at its limit also
 * names the snapshot it was reading up to (`upto`), and (xid, id): entries
 * finished in `upto` are read up to there in (xid, id) order.
 */
export interface Position {
  readonly xid: bigint;
  readonly id: bigint;
  /** postgres: every entry of a transaction finished in this snapshot has been read. */
  readonly snapshot?: string;
  /** postgres, between the pages of one read: the snapshot being read up to. */
  readonly upto?: string;
  /**
   * postgres: the log table's file (`pg_relation_filenode`). TRUNCATE, or
   * the table dropped and made again, gives it a new one: the entries in
   * between are gone, and the reader says so.
   */
  readonly file?: string;
  /**
   * postgres: the log table's oid. VACUUM FULL or CLUSTER give the table a
   * new file and keep it (and its rows); TRUNCATE gives a new file too, and
   * drops the rows: `newest` tells the two apart.
   */
  readonly table?: string;
  /**
   * postgres: the newest entry (`xid:id`) in the log when the position was
   * taken, if any. Still there after the table got a new file: rewritten,
   * nothing lost; gone: emptied.
   */
  readonly newest?: string;
}

export const START: Position = { xid: 0n, id: 0n };

/** Negative, zero or positive, as `a` is before, at or after `b` in (xid, id) order. */
export function comparePositions(a: Position, b: Position): number {
  if (a.xid !== b.xid) return a.xid < b.xid ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

/** `xid:id`, how a retention mark records its horizon. */
export function positionText(p: Position): string {
  return `${p.xid}:${p.id}`;
}

/** What a retention mark says was pruned: entries up to `position`, written by `xids` when it lists them. */
export interface Horizon {
  readonly position: Position;
  readonly xids?: readonly bigint[];
}

/** A mark's text: `xid:id`, then (postgres) `;` and the pruned entries' transaction ids. */
export function horizonText(position: Position, xids?: readonly bigint[]): string {
  return xids ? `${positionText(position)};${xids.join(',')}` : positionText(position);
}

/** The horizon a mark's text names, or undefined for text that is none (forged or corrupt). */
export function parseHorizon(text: string | null): Horizon | undefined {
  const m = /^(\d{1,20}):(\d{1,20})(?:;(\d{1,20}(?:,\d{1,20})*))?$/.exec(text ?? '');
  if (!m) return undefined;
  const position = { xid: BigInt(m[1]!), id: BigInt(m[2]!) };
  return m[3] === undefined ? { position } : { position, xids: m[3].split(',').map((x) => BigInt(x)) };
}
