import type { AccessBroker, RowStream } from '../../lib';
import type { ReportCache, TopLists } from './report-cache';

/** What the demo reports, read back from the database with stream(). */
export interface Report {
  readonly files: readonly { name: string; lines: number; records: number; bad: number; done: boolean }[];
  readonly entries: number;
  readonly statuses: readonly { status: number; hits: number }[];
  readonly topUrls: readonly { url: string; hits: number }[];
  readonly topIps: readonly { ip: string; hits: number; bad: boolean }[];
  /** How many addresses are in bad_ip. */
  readonly badIps: number;
  /** Hits per hour of the day, UTC: 24 counts. */
  readonly perHour: readonly number[];
  readonly badLines: readonly { reason: string; count: number; first: string }[];
}

type Row = Record<string, unknown>;

/** Every row of a stream, in batches (a promise per batch, not per row). */
async function eachRow(rows: RowStream<Row>, fn: (row: Row) => void): Promise<void> {
  for await (const batch of rows.batches()) for (const row of batch) fn(row);
}

/**
 * The `n` largest by `hits`, ties by name in code-unit order: sorted here,
 * not in SQL, since postgres's collation and sqlite's order text differently.
 */
async function top<T extends { hits: number }>(
  rows: RowStream<Row>,
  n: number,
  make: (row: Row) => T,
  name: (t: T) => string,
) {
  const kept: T[] = [];
  const before = (a: T, b: T) => a.hits > b.hits || (a.hits === b.hits && name(a) < name(b));
  await eachRow(rows, (row) => {
    const t = make(row);
    if (kept.length === n && !before(t, kept[n - 1]!)) return;
    let i = Math.min(kept.length, n - 1);
    while (i > 0 && before(t, kept[i - 1]!)) i--;
    kept.splice(i, 0, t);
    kept.length = Math.min(kept.length, n);
  });
  return kept;
}

type Stream = (sql: string, key?: string) => RowStream<Row>;

/** The top-N URLs and addresses by hits: two GROUP BYs over every entry. */
async function readTops(stream: Stream, n: number): Promise<TopLists> {
  const topUrls = await top(
    stream(
      'select u.value, g.hits from (select id_url, count(*) as hits from entries group by id_url) g join url u on u.id = g.id_url',
    ),
    n,
    (r) => ({ url: String(r.value), hits: Number(r.hits) }),
    (t) => t.url,
  );
  const topIps = await top(
    stream(
      'select g.ip, g.hits, b.ip as bad from (select ip, count(*) as hits from entries group by ip) g left join bad_ip b on b.ip = g.ip',
    ),
    n,
    (r) => ({ ip: String(r.ip), hits: Number(r.hits), bad: r.bad !== null }),
    (t) => t.ip,
  );
  return { topUrls, topIps };
}

/**
 * Reads the report; the statements are the same on every dialect. With a
 * broker that has a {@link ReportCache} (a StatBroker), the top-N lists come
 * from it: computed at the first read, then kept until an import ends.
 */
export async function readReport(broker: AccessBroker & { readonly reports?: ReportCache }, n = 10): Promise<Report> {
  const stream: Stream = (sql, key) => broker.stream<Row>(sql, [], { batchSize: 2000, key });
  const files: Report['files'][number][] = [];
  await eachRow(stream('select id, name, lines, records, bad, done from files', 'id'), (r) =>
    files.push({
      name: String(r.name),
      lines: Number(r.lines),
      records: Number(r.records),
      bad: Number(r.bad),
      done: Boolean(Number(r.done)),
    }),
  );
  const statuses: { status: number; hits: number }[] = [];
  await eachRow(stream('select http, count(*) as hits from entries group by http'), (r) =>
    statuses.push({ status: Number(r.http), hits: Number(r.hits) }),
  );
  statuses.sort((a, b) => a.status - b.status);
  const { topUrls, topIps } = await (broker.reports
    ? broker.reports.tops(n, () => readTops(stream, n))
    : readTops(stream, n));
  let badIps = 0;
  await eachRow(stream('select ip from bad_ip'), () => badIps++);
  // sqlite returns datetimes as UTC text, postgres as Dates.
  const perHour = new Array<number>(24).fill(0);
  await eachRow(stream('select id, dt from entries', 'id'), (r) => {
    const dt = r.dt as string | Date;
    perHour[typeof dt === 'string' ? Number(dt.slice(11, 13)) : dt.getUTCHours()]!++;
  });
  const badLines = new Map<string, { reason: string; count: number; first: string }>();
  const sql =
    'select f.name, b.line, b.reason, b.sample from bad_lines b join files f on f.id = b.id_file order by b.id_file, b.line';
  await eachRow(stream(sql), (r) => {
    const reason = String(r.reason);
    const seen = badLines.get(reason) ?? {
      reason,
      count: 0,
      first: `${String(r.name)}:${Number(r.line)}: ${String(r.sample)}`,
    };
    seen.count++;
    badLines.set(reason, seen);
  });
  const entries = statuses.reduce((sum, s) => sum + s.hits, 0);
  return {
    files,
    entries,
    statuses,
    topUrls,
    topIps,
    badIps,
    perHour,
    badLines: [...badLines.values()].sort((a, b) => b.count - a.count),
  };
}

/** A text table: columns padded, numbers right-aligned. */
function table(title: string, headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? c.toLocaleString('en') : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i]).length)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const line = (r: (string | number)[]) =>
    '  ' +
    r
      .map((c, i) => (numeric[i] ? String(c).padStart(widths[i]!) : String(c).padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [`== ${title}`, line(cells[0]!), ...cells.slice(1).map(line)].join('\n');
}

const cut = (text: string, max = 70) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** The report as text, one table after another. */
export function formatReport(r: Report): string {
  const peak = Math.max(1, ...r.perHour);
  return [
    table(
      'Files',
      ['file', 'lines', 'entries', 'bad', 'state'],
      r.files.map((f) => [f.name, f.lines, f.records, f.bad, f.done ? 'done' : 'partial']),
    ),
    table(
      `Top URLs (of ${r.entries.toLocaleString('en')} entries)`,
      ['hits', 'url'],
      r.topUrls.map((u) => [u.hits, cut(u.url)]),
    ),
    table(
      'Status codes',
      ['status', 'hits', 'share'],
      r.statuses.map((s) => [String(s.status), s.hits, `${((100 * s.hits) / Math.max(1, r.entries)).toFixed(1)}%`]),
    ),
    table(
      'Hits per hour of day (UTC)',
      ['hour', 'hits', ''],
      r.perHour.map((h, i) => [String(i).padStart(2, '0'), h, '#'.repeat(Math.round((30 * h) / peak))]),
    ),
    table(
      `Top IPs (* in bad_ip, which holds ${r.badIps}: 50+ client errors, most of their requests)`,
      ['hits', 'ip', ''],
      r.topIps.map((ip) => [ip.hits, ip.ip, ip.bad ? '*' : '']),
    ),
    table(
      'Bad lines (counted and skipped)',
      ['count', 'reason', 'first one'],
      r.badLines.map((b) => [b.count, b.reason, cut(b.first, 80)]),
    ),
  ].join('\n\n');
}
