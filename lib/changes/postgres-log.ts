import { array } from '../dialect/array-parameter';
import type { LogDialect, LogRow } from './log-dialect';
import { readChange } from './log-dialect';
import { CHANGES_TABLE } from './log-table';
import { covers, finishedUpTo, parseSnapshot, visibleIn } from './pg-snapshot';
import type { Position } from './position';

const T = CHANGES_TABLE.name;
/**
 * The log table's file, its oid and its newest entry: a new file after
 * TRUNCATE, VACUUM FULL or CLUSTER; a new oid when the table was made again;
 * the newest entry still there after a new file when the table was only
 * rewritten, rows kept (see SEEN).
 */
const TABLE =
  `pg_relation_filenode('${T}'::regclass)::text AS file, '${T}'::regclass::oid::text AS tbl, ` +
  `(SELECT coalesce(xid, 0)::text || ':' || id::text FROM ${T} ORDER BY id DESC LIMIT 1) AS newest`;
const SNAPSHOT = 'SELECT pg_current_snapshot()::text AS snap';

/** Where the log table is: its file and oid, and its newest entry. */
interface TableRow {
  readonly file: string;
  readonly tbl: string;
  readonly newest: string | null;
}

/** What became of the entry a position saw newest (see SEEN); null for a position that saw none. */
type Seen = 'kept' | 'pruned' | 'gone' | null;

type Row = Partial<LogRow> & TableRow & { snap: string; seen: Seen };

/**
 * What became of the entry the position saw newest, read by the read's own
 * statement: 'kept' (still there), 'pruned' (gone, and a retention mark
 * after it says so: retention appends one in the transaction that prunes)
 * or 'gone' (deleted by hand, `DELETE FROM sasync_changes`, which may have
 * taken entries the reader had not read with it: a needless resync when it
 * took only read ones, never a missed one). With a new file, 'kept' tells
 * a rewrite (VACUUM FULL, CLUSTER) from TRUNCATE. One index probe while the
 * entry is there; once it is gone, a scan of the entries after it for a
 * mark (once per loss). (Entries deleted by hand after the position while
 * its newest stays cannot be told from the gaps a sequence leaves: not
 * noticed.)
 */
const SEEN =
  `CASE WHEN $6::bigint IS NULL THEN NULL ` +
  `WHEN EXISTS (SELECT 1 FROM ${T} WHERE id = $6::bigint AND coalesce(xid, 0) = $7::bigint) THEN 'kept' ` +
  `WHEN EXISTS (SELECT 1 FROM ${T} WHERE id > $6::bigint AND op = 'pruned') THEN 'pruned' ELSE 'gone' END AS seen`;

/** A position's fields naming the log table as `row` saw it. */
function tableOf(row: TableRow): Pick<Position, 'file' | 'table' | 'newest'> {
  return { file: row.file, table: row.tbl, ...(row.newest === null ? {} : { newest: row.newest }) };
}

/** The id and xid of the entry `position` saw newest, as parameters ($6, $7 of a read); nulls without one. */
function newest(position: Position): [string | null, string | null] {
  if (position.newest === undefined) return [null, null];
  const [xid, id] = position.newest.split(':');
  return [id ?? null, xid ?? null];
}

/**
 * The postgres log reader. Ids and xids are taken when a row is inserted,
 * not when its transaction commits, so a reader that has seen id 11 may
 * later see id 10 commit. The position is the snapshot of the last read
 * (see position.ts), taken by the read's own statement: what that statement
 * could see is exactly what had committed in its snapshot. The next read
 * takes the entries of transactions that had not finished in the position's
 * snapshot and have now, in (xid, id) order, and stands at its own snapshot.
 * A transaction holding a low id that commits late is read then, and a long
 * transaction elsewhere on the server delays nothing: only the scan starts
 * at the position's xmin.
 */
export const postgresLog: LogDialect = {
  xidValue: 'pg_current_xact_id()::text::bigint',
  missingTableCode: '42P01',

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
    const [row] = await read<TableRow & { snap: string }>({ sql: `${SNAPSHOT}, ${TABLE}`, parameters: [] });
    return { xid: 0n, id: 0n, snapshot: row!.snap, ...tableOf(row!) };
  },

  // Only compared with a reader's snapshot (see reached): works with the log table missing, too.
  async now(read) {
    const [row] = await read<{ snap: string }>({ sql: SNAPSHOT, parameters: [] });
    return { xid: 0n, id: 0n, snapshot: row!.snap };
  },

  async read(read, position, limit) {
    const from = position.snapshot;
    if (!from) throw new Error('a postgres change log position needs a snapshot (from head())');
    // A first page reads up to this statement's own snapshot (what it can
    // see); later pages up to that same snapshot, so that a page boundary
    // loses nothing that committed between pages (the next read takes it).
    // Entries of transactions below the snapshot's xmin had finished in it: the scan of the
    // (xid, id) index starts at the later of xmin and the position. Both bounds name that start:
    // with `xid >= xmin` beside a row bound of (0, 0) (after a whole read), postgres started at
    // (0, 0) and went through the whole index (7 ms a read with 100,000 entries); with the row
    // bound alone it misjudged the rows and scanned the table (16 ms). Now 0.2 ms.
    const xmin = parseSnapshot(from)?.xmin ?? 0n;
    const [startXid, startId] = position.xid >= xmin ? [position.xid, position.id] : [xmin, 0n];
    const rows = await read<Row>({
      sql:
        `SELECT s.snap::text AS snap, ${TABLE}, ${SEEN}, c.id::text AS id, c.xid::text AS xid, c.kind, c.grp, c.name, c.op, c.origin ` +
        `FROM (SELECT coalesce($2::text::pg_snapshot, pg_current_snapshot()) AS snap) s LEFT JOIN LATERAL (` +
        `SELECT * FROM ${T} WHERE xid >= $3::bigint AND (xid, id) > ($3::bigint, $4::bigint) ` +
        `AND NOT pg_visible_in_snapshot(xid::text::xid8, $1::text::pg_snapshot) ` +
        `AND pg_visible_in_snapshot(xid::text::xid8, s.snap) ` +
        `ORDER BY xid, id LIMIT $5` +
        `) c ON true`,
      parameters: [from, position.upto ?? null, startXid.toString(), startId.toString(), limit, ...newest(position)],
    });
    const first = rows[0]!;
    const upto = first.snap;
    const table = tableOf(first);
    // A new file that is not the same table with its newest entry still there (VACUUM FULL, CLUSTER):
    // emptied (TRUNCATE) or made again since the position. Or entries deleted by hand. What was in
    // the log may be lost (the stores resync). (An entry pruned before a rewrite reads as lost too.)
    const rewritten = position.table === first.tbl && first.seen === 'kept';
    const moved = position.file !== undefined && first.file !== position.file && !rewritten;
    if (moved || first.seen === 'gone') {
      return { entries: [], next: { xid: 0n, id: 0n, snapshot: upto, ...table }, more: false, lost: true };
    }
    const entries = rows.filter((r) => r.id !== null && r.id !== undefined).map((r) => readChange(r as LogRow));
    const more = entries.length >= limit;
    const last = entries.at(-1)?.position;
    // Stopped at the limit: after the last entry taken, on the way to `upto`.
    const next: Position = more
      ? { ...last!, snapshot: from, upto, ...table }
      : { xid: 0n, id: 0n, snapshot: upto, ...table };
    return { entries, next, more, lost: false };
  },

  reached(position, target) {
    const at = parseSnapshot(position.snapshot);
    const goal = parseSnapshot(target.snapshot);
    return !position.upto && !!at && !!goal && covers(at, goal);
  },

  missed(horizon, start) {
    const at = parseSnapshot(start.snapshot);
    if (!at) return true;
    // The pruned entries' transactions listed: read iff each had finished at `start`.
    if (horizon.xids) return horizon.xids.some((xid) => !visibleIn(xid, at));
    // Else: every transaction up to the horizon's had finished at `start`,
    // so all that was pruned had been read; if not, maybe not.
    return !finishedUpTo(horizon.position.xid, at);
  },
};
