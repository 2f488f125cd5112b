import { array } from '../dialect/array-parameter';
import type { LogDialect, LogRow } from './log-dialect';
import { readChange } from './log-dialect';
import { CHANGES_TABLE } from './log-table';
import { later } from './position';

const T = CHANGES_TABLE.name;
/** The oldest transaction still running when the statement's snapshot was taken (xid8 as bigint). */
const XMIN = 'pg_snapshot_xmin(pg_current_snapshot())::text::bigint';

type Row = Partial<LogRow> & { xmin: string; held: boolean };

/**
 * The postgres log reader's watermark. Ids and xids are assigned when a row
 * is inserted, not when its transaction commits, so a reader that has seen
 * id 11 may later see id 10 commit. Every transaction below the snapshot's
 * xmin has finished, though: the reader reads only below xmin, in (xid, id)
 * order, and then stands at xmin. A transaction holding a low xid is read
 * when xmin passes it; meanwhile `held` says there is something to wait
 * for. A long transaction anywhere on the server holds xmin, and so delays
 * delivery (never loses it).
 */
export const postgresLog: LogDialect = {
  xidValue: 'pg_current_xact_id()::text::bigint',

  // Two arrays whatever the number of entries: one statement text, so the
  // prepared statement is reused, and six parameters instead of six per entry.
  append: (_p, meta, entries) => ({
    sql:
      `INSERT INTO ${T} (xid, kind, grp, name, op, origin, at) ` +
      `SELECT pg_current_xact_id()::text::bigint, $1, $2, e.name, e.op, $3, $4 ` +
      `FROM unnest($5::text[], $6::text[]) AS e(name, op)`,
    parameters: [
      meta.kind,
      meta.grp,
      meta.origin,
      meta.at,
      array(entries.map((e) => e.name)),
      array(entries.map((e) => e.op)),
    ],
  }),

  async head(read) {
    const [row] = await read<{ xmin: string }>({ sql: `SELECT ${XMIN}::text AS xmin`, parameters: [] });
    return { xid: BigInt(row!.xmin), id: 0n };
  },

  async now(read) {
    // Every transaction that committed before this call has an xid below xmax.
    const [row] = await read<{ xmax: string }>({
      sql: 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS xmax',
      parameters: [],
    });
    return { xid: BigInt(row!.xmax), id: 0n };
  },

  async read(read, position, limit) {
    const rows = await read<Row>({
      sql:
        `SELECT s.xmin::text AS xmin, c.id::text AS id, c.xid::text AS xid, c.kind, c.grp, c.name, c.op, c.origin, ` +
        `EXISTS (SELECT 1 FROM ${T} h WHERE h.xid >= s.xmin) AS held ` +
        `FROM (SELECT ${XMIN} AS xmin) s LEFT JOIN LATERAL (` +
        `SELECT * FROM ${T} WHERE (xid, id) > ($1::bigint, $2::bigint) AND xid < s.xmin ORDER BY xid, id LIMIT $3` +
        `) c ON true`,
      parameters: [position.xid.toString(), position.id.toString(), limit],
    });
    const first = rows[0]!;
    const entries = rows.filter((r) => r.id !== null && r.id !== undefined).map((r) => readChange(r as LogRow));
    const more = entries.length >= limit;
    const last = entries.at(-1)?.position;
    // Stopped at the limit: at the last entry taken; else everything below xmin is read.
    const next = more ? last! : later(position, { xid: BigInt(first.xmin), id: 0n });
    return { entries, next, more, held: first.held, lost: false };
  },
};
