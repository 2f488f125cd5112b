import { median } from './stats';
import { caseLabel, type PrepareRun, type StreamResult } from './streams';

/** Issue 3's targets. */
export const STREAM_RATIO_TARGET = { postgres: 0.8, sqlite: 0.5 } as const;
export const STREAM_RSS_TARGET = 64 * 2 ** 20;
export const PREPARE_RATIO_TARGET = 1.1;

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const met = (ok: boolean): string => (ok ? 'yes' : 'NO');

/**
 * One row per subject: median rows/s; the ratio to the raw driver as the
 * median of per-round ratios; RSS growth as the worst round. The rows/s target
 * is judged for issue 3's three ways (for await, consume, subscribe), the RSS
 * target for every sasync row.
 */
export function printStreams(results: readonly StreamResult[], rounds: number, quick: boolean): void {
  const rows = quick ? '100,000 (--quick)' : '1,000,000';
  console.log(`\nStreaming ${rows} rows (id, md5 text) in batches of 500, each subject in a fresh process`);
  console.log(
    `(median of ${rounds} round(s); RSS growth = peak RSS, sampled every 20 ms, minus RSS before; worst round)`,
  );
  console.table(
    results.map((r) => {
      const raw = results.find((x) => x.kind === r.kind && x.case.impl === 'raw')!;
      const ratio = median(r.samples.map((s, i) => s.rowsPerSecond / raw.samples[i]!.rowsPerSecond));
      const kysely = results.find((x) => x.kind === r.kind && x.case.impl === 'peer' && x.case.peer === 'kysely');
      const vsKysely = kysely
        ? { 'x Kysely': median(r.samples.map((s, i) => s.rowsPerSecond / kysely.samples[i]!.rowsPerSecond)).toFixed(2) }
        : {};
      const growth = Math.max(...r.samples.map((s) => s.rssGrowth));
      const sasync = r.case.impl === 'sasync';
      const judged = sasync && r.case.mode !== 'slow' && r.case.mode !== 'batches';
      return {
        database: r.kind,
        subject: caseLabel(r.kind, r.case),
        'rows/s': int(median(r.samples.map((s) => s.rowsPerSecond))),
        'x raw': ratio.toFixed(2),
        ...vsKysely,
        [`>= ${STREAM_RATIO_TARGET.postgres} pg / ${STREAM_RATIO_TARGET.sqlite} sqlite`]: judged
          ? met(ratio >= STREAM_RATIO_TARGET[r.kind])
          : '',
        'first row s': median(r.samples.map((s) => s.firstRowSeconds)).toFixed(2),
        'CPU s': median(r.samples.map((s) => s.cpuSeconds)).toFixed(2),
        'RSS before': mb(Math.max(...r.samples.map((s) => s.baselineRss))),
        'RSS growth': mb(growth),
        [`<= ${mb(STREAM_RSS_TARGET)}`]: sasync ? met(growth <= STREAM_RSS_TARGET) : '',
        rounds: r.samples.map((s) => int(s.rowsPerSecond)).join(' / '),
      };
    }),
  );
}

/** prepared.query([id]) against broker.query(sql, [id]), one select at a time. */
export function printPrepare(runs: readonly PrepareRun[]): void {
  console.log('\nprepare() vs query(): selects by id, one at a time (median of interleaved rounds)');
  for (const run of runs) if (!run.rounds) console.log(`  ${run.kind}: prepare: not available in this build`);
  const measured = runs.filter((r) => r.rounds);
  if (measured.length === 0) return;
  console.table(
    measured.map(({ kind, count, rounds }) => {
      const ratio = median(rounds!.map((r) => r.prepared / r.query));
      return {
        database: kind,
        selects: int(count),
        'query() /s': int(median(rounds!.map((r) => r.query))),
        'prepared /s': int(median(rounds!.map((r) => r.prepared))),
        'prepared/query': ratio.toFixed(3),
        [`>= ${PREPARE_RATIO_TARGET} (postgres)`]: kind === 'postgres' ? met(ratio >= PREPARE_RATIO_TARGET) : '',
        rounds: rounds!.map((r) => `${int(r.prepared)}/${int(r.query)}`).join(', '),
      };
    }),
  );
}
