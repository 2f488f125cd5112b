/**
 * A postgres snapshot as `pg_current_snapshot()::text` spells it,
 * `xmin:xmax:xip,...`: every transaction below xmin had finished, none at or
 * above xmax had, and those listed were running.
 */
export interface PgSnapshot {
  readonly xmin: bigint;
  readonly xmax: bigint;
  readonly xip: ReadonlySet<bigint>;
}

/** The snapshot `text` spells, or undefined for text that is none. */
export function parseSnapshot(text: string | undefined): PgSnapshot | undefined {
  const m = /^(\d{1,20}):(\d{1,20}):([\d,]*)$/.exec(text ?? '');
  if (!m) return undefined;
  const xip = new Set(m[3] ? m[3].split(',').map((x) => BigInt(x)) : []);
  return { xmin: BigInt(m[1]!), xmax: BigInt(m[2]!), xip };
}

/** Whether `xid` had finished when `s` was taken (pg_visible_in_snapshot, on the client). */
export function visibleIn(xid: bigint, s: PgSnapshot): boolean {
  return xid < s.xmin || (xid < s.xmax && !s.xip.has(xid));
}

/** Whether every transaction that had finished in `before` had finished in `after` too. */
export function covers(after: PgSnapshot, before: PgSnapshot): boolean {
  if (after.xmax < before.xmax) return false;
  for (const x of after.xip) if (x < before.xmax && visibleIn(x, before)) return false;
  return true;
}

/** Whether every transaction up to `xid` had finished when `s` was taken. */
export function finishedUpTo(xid: bigint, s: PgSnapshot): boolean {
  if (xid >= s.xmax) return false;
  for (const x of s.xip) if (x <= xid) return false;
  return true;
}
