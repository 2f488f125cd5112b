import type { LogDialect, LogRow, ReadRows } from './log-dialect';
import { readChange } from './log-dialect';
import { CHANGES_TABLE } from './log-table';
import { comparePositions, parseHorizon } from './position';

const T = CHANGES_TABLE.name;

/** The last id the log handed out (AUTOINCREMENT keeps it after pruning; dropping the table resets it). */
const TOP = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = '${T}'), 0) AS top`;

/**
 * The sqlite log reader: one writer at a time, so id order is commit order
 * and the position is the last id read. The last id handed out is read
 * first (cheap: one row of sqlite_sequence), and the entries only when it
 * moved. Below the position, the log was made again (dropped and created):
 * what was in it is lost, and the reader says so; so too when entries after
 * the position are missing and no retention mark says they were pruned.
 */
export const sqliteLog: LogDialect = {
  xidValue: 'NULL',
  missingTableCode: 'SQLITE_ERROR',

  async head(read) {
    return { xid: 0n, id: await top(read) };
  },

  async now(read) {
    return { xid: 0n, id: await top(read) };
  },

  async read(read, position, limit) {
    const last = await top(read);
    if (last < position.id) return { entries: [], next: { xid: 0n, id: last }, more: false, lost: true };
    if (last === position.id) return { entries: [], next: position, more: false, lost: false };
    const rows = await read<LogRow>({
      sql: `SELECT id, xid, kind, grp, name, op, origin FROM ${T} WHERE id > ? AND id <= ? ORDER BY id LIMIT ?`,
      parameters: [Number(position.id), Number(last), limit],
    });
    const entries = rows.map(readChange);
    // Ids after the position follow on one by one (a rolled-back insert
    // takes its sqlite_sequence step back with it), unless entries were
    // deleted: by a prune, which marks it, or by someone else.
    const gap = position.id > 0n && entries[0]?.position.id !== position.id + 1n;
    if (gap && !(await prunedAfter(read, position.id))) {
      return { entries: [], next: { xid: 0n, id: last }, more: false, lost: true };
    }
    const more = entries.length >= limit;
    const next = more ? entries.at(-1)!.position : { xid: 0n, id: last };
    return { entries, next, more, lost: false };
  },

  reached: (position, target) => comparePositions(position, target) >= 0,
  missed: (horizon, start) => comparePositions(horizon.position, start) > 0,
};

/** Marks read to explain a gap after the position (only the newest matter). */
const MARKS = 20;

/**
 * Whether a retention mark after `id` says entries from `id + 1` on were
 * pruned: the gap is retention's (the reader meets the mark and resyncs if
 * it missed anything). Else the entries were deleted by someone else (a
 * `DELETE FROM sasync_changes`) and are lost.
 */
async function prunedAfter(read: ReadRows, id: bigint): Promise<boolean> {
  const marks = await read<{ name: string | null }>({
    sql: `SELECT name FROM ${T} WHERE kind = ? AND op = 'pruned' AND id > ? ORDER BY id DESC LIMIT ?`,
    parameters: [T, Number(id), MARKS],
  });
  return marks.some((m) => {
    const horizon = parseHorizon(m.name);
    return horizon !== undefined && horizon.position.id > id;
  });
}

async function top(read: ReadRows): Promise<bigint> {
  const [row] = await read<{ top: number | string }>({ sql: TOP, parameters: [] });
  return BigInt(row?.top ?? 0);
}
