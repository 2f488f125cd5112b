import type { LogDialect, LogRow } from './log-dialect';
import { readChange } from './log-dialect';
import { CHANGES_TABLE } from './log-table';
import { comparePositions } from './position';

const T = CHANGES_TABLE.name;

/** The last id the log handed out (AUTOINCREMENT keeps it after pruning; dropping the table resets it). */
const TOP = `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = '${T}'), 0) AS top`;

/**
 * The sqlite log reader: one writer at a time, so id order is commit order
 * and the position is the last id read. The last id handed out is read
 * first (cheap: one row of sqlite_sequence), and the entries only when it
 * moved. Below the position, the log was made again (dropped and created):
 * what was in it is lost, and the reader says so.
 */
export const sqliteLog: LogDialect = {
  xidValue: 'NULL',

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
    const more = entries.length >= limit;
    const next = more ? entries.at(-1)!.position : { xid: 0n, id: last };
    return { entries, next, more, lost: false };
  },

  reached: (position, target) => comparePositions(position, target) >= 0,
  missed: (horizon, start) => comparePositions(horizon.position, start) > 0,
};

async function top(read: Parameters<LogDialect['head']>[0]): Promise<bigint> {
  const [row] = await read<{ top: number | string }>({ sql: TOP, parameters: [] });
  return BigInt(row?.top ?? 0);
}
