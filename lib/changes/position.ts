/**
 * Where a reader is in the log: it has read every entry at or below
 * (xid, id) in that order. On sqlite xid is always 0 and id alone orders
 * (rowid order is commit order there). On postgres xid is the writing
 * transaction's id: entries are read in (xid, id) order only below the
 * snapshot's xmin, below which every transaction has finished, so nothing
 * can still appear below the position.
 */
export interface Position {
  readonly xid: bigint;
  readonly id: bigint;
}

export const START: Position = { xid: 0n, id: 0n };

/** Negative, zero or positive, as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  if (a.xid !== b.xid) return a.xid < b.xid ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

/** The later of two positions: a reader never moves back. */
export function later(a: Position, b: Position): Position {
  return comparePositions(a, b) >= 0 ? a : b;
}

/** `xid:id`, how a retention mark records its horizon. */
export function positionText(p: Position): string {
  return `${p.xid}:${p.id}`;
}

/** The position a mark's text names, or undefined for text that is none (forged or corrupt). */
export function parsePosition(text: string | null): Position | undefined {
  const m = /^(\d{1,20}):(\d{1,20})$/.exec(text ?? '');
  return m ? { xid: BigInt(m[1]!), id: BigInt(m[2]!) } : undefined;
}
