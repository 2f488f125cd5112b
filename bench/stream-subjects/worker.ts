/**
 * A streaming subject's own process, one per measurement: a fresh process
 * gives every subject the same RSS baseline, and keeps TypeORM's process-wide
 * sqlite3 verbose mode and sasync's promise hooks away from the others.
 * The job comes as JSON in argv; the result goes back over IPC.
 */
import { getGc } from '../gc';
import { benchPrepare } from './prepare';
import { openPeerStream } from './peers';
import { openRawStream } from './raw';
import { startRss, stopRss } from './rss';
import { openSasyncStream } from './sasync';
import type { Job, Place, ReadResult, StreamCase, StreamSample, StreamSubject } from './types';
import { openTypeormQuery } from './typeorm';

function open(place: Place, c: StreamCase): Promise<StreamSubject> {
  if (c.impl === 'sasync') return openSasyncStream(place, c.mode, c.keyed);
  if (c.impl === 'peer') return openPeerStream(place, c.peer);
  return c.impl === 'raw' ? openRawStream(place) : openTypeormQuery(place);
}

/** The sum of ids 1..n: what every read must return. */
const idSum = (n: number) => (n * (n + 1)) / 2;

async function check(read: Promise<ReadResult>, rows: number): Promise<ReadResult> {
  const seen = await read;
  if (seen.count !== rows || seen.sum !== idSum(rows)) {
    throw new Error(`read ${seen.count} rows (id sum ${seen.sum}), expected ${rows}`);
  }
  return seen;
}

/** Warms up on the small table, then times one read of the big one while sampling RSS. */
async function measureStream(place: Place, c: StreamCase): Promise<StreamSample> {
  const subject = await open(place, c);
  try {
    await check(subject.read(place.warmTable), place.warmRows);
    const { gc } = getGc();
    gc();
    gc();
    const baselineRss = startRss();
    const cpu = process.cpuUsage();
    const start = performance.now();
    let peak = 0;
    let firstRowAt = 0;
    try {
      ({ firstRowAt } = await check(subject.read(place.table), place.rows));
    } finally {
      peak = stopRss();
    }
    const seconds = (performance.now() - start) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      rowsPerSecond: place.rows / seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      firstRowSeconds: (firstRowAt - start) / 1000,
      baselineRss,
      rssGrowth: peak - baselineRss,
    };
  } finally {
    await subject.close();
  }
}

async function run(job: Job): Promise<unknown> {
  return job.op === 'stream' ? measureStream(job.place, job.case) : benchPrepare(job.place, job.count, job.rounds);
}

run(JSON.parse(process.argv[2]!) as Job).then(
  (value) => process.send!({ ok: true, value }, () => process.exit(0)),
  (err: unknown) =>
    process.send!({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () =>
      process.exit(1),
    ),
);
