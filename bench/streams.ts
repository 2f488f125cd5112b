import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BenchOptions } from './options';
import { printPrepare, printStreams } from './stream-report';
import { knexCanStream } from './stream-subjects/peers';
import { runJob } from './stream-subjects/spawn';
import {
  SASYNC_MODES,
  STREAM_PEERS,
  type Place,
  type PrepareResult,
  type SasyncMode,
  type StreamCase,
  type StreamPeer,
  type StreamSample,
} from './stream-subjects/types';
import { dropPostgres, fillPostgres, fillSqlite, postgresPlace, sqlitePlace } from './stream-tables';
import type { DbKind } from './workload';

/** A subject's samples, one per round. */
export interface StreamResult {
  readonly kind: DbKind;
  readonly case: StreamCase;
  readonly samples: StreamSample[];
}

export interface PrepareRun {
  readonly kind: DbKind;
  readonly count: number;
  readonly rounds: PrepareResult;
}

/**
 * raw first: every other row's ratio is to it. batches() only keyed: without
 * a key the same table is read by its rowid, the same way. With `--peers`, on postgres:
 * Kysely, postgres.js and (if pg-query-stream is installed) Knex.
 */
function cases(kind: DbKind, peers: boolean): StreamCase[] {
  const sasync = (keyed: boolean) =>
    SASYNC_MODES.filter((mode) => keyed || mode !== 'batches').map((mode): StreamCase => ({
      impl: 'sasync',
      mode,
      keyed,
    }));
  const peerCases =
    peers && kind === 'postgres'
      ? STREAM_PEERS.filter((p) => p !== 'knex' || knexCanStream()).map((peer): StreamCase => ({ impl: 'peer', peer }))
      : [];
  return [
    { impl: 'raw' },
    ...sasync(true),
    ...(kind === 'sqlite' ? sasync(false) : []),
    { impl: 'typeorm' },
    ...peerCases,
  ];
}

/** Every case once per round, each in a fresh process, the order rotating each round. */
async function benchStreams(
  place: Place,
  rounds: number,
  peers: boolean,
  progress: (line: string) => void,
): Promise<StreamResult[]> {
  const results = cases(place.kind, peers).map((c): StreamResult => ({ kind: place.kind, case: c, samples: [] }));
  for (let round = 0; round < rounds; round++) {
    const k = round % results.length;
    for (const result of [...results.slice(k), ...results.slice(0, k)]) {
      const sample = await runJob<StreamSample>({ op: 'stream', place, case: result.case });
      result.samples.push(sample);
      const mb = (sample.rssGrowth / 2 ** 20).toFixed(0);
      progress(
        `  ${place.kind} streams round ${round + 1}/${rounds}: ${caseLabel(place.kind, result.case)} ` +
          `${Math.round(sample.rowsPerSecond)} rows/s, +${mb} MB RSS`,
      );
    }
  }
  return results;
}

const MODE_LABELS: Record<SasyncMode, string> = {
  'for-await': 'for await',
  consume: 'consume(async, 4)',
  subscribe: 'subscribe',
  slow: 'SLOW consume',
  batches: 'batches() (arrays)',
};

const PEER_LABELS: Record<StreamPeer, string> = {
  kysely: 'Kysely stream(500)',
  postgresjs: 'postgres.js cursor(500)',
  knex: 'Knex stream({ batchSize: 500 })',
};

export function caseLabel(kind: DbKind, c: StreamCase): string {
  if (c.impl === 'raw') return kind === 'postgres' ? 'raw pg-cursor read(500)' : 'raw sqlite3 keyset chunks';
  if (c.impl === 'typeorm') return 'typeorm query()';
  if (c.impl === 'peer') return PEER_LABELS[c.peer];
  const how = kind === 'postgres' ? '' : c.keyed ? ", key 'id'" : ', no key (rowid chunks)';
  return `sasync ${MODE_LABELS[c.mode]}${how}`;
}

/** Streaming and prepare() on one database: its tables made once, dropped at the end. */
async function onDatabase(
  options: BenchOptions,
  place: Place,
  fill: (place: Place) => Promise<void>,
  drop: (place: Place) => Promise<void>,
  progress: (line: string) => void,
): Promise<{ streams: StreamResult[]; prepare: PrepareRun[] }> {
  try {
    const started = performance.now();
    await fill(place);
    progress(`  ${place.kind}: ${place.rows} rows written in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    const streams = options.parts.has('streams')
      ? await benchStreams(place, Math.min(options.rounds, 2), options.peers, progress)
      : [];
    const prepare: PrepareRun[] = [];
    if (options.parts.has('prepare')) {
      const count = options.quick ? 2000 : 10_000;
      const rounds = await runJob<PrepareResult>({ op: 'prepare', place, count, rounds: Math.min(options.rounds, 3) });
      prepare.push({ kind: place.kind, count, rounds });
    }
    return { streams, prepare };
  } finally {
    await drop(place);
  }
}

/** The streams and prepare parts: sqlite, then postgres if it answered. */
export async function benchStreamParts(
  options: BenchOptions,
  postgres: boolean,
  progress: (line: string) => void,
): Promise<void> {
  const rows = options.quick ? 100_000 : 1_000_000;
  const runs: { streams: StreamResult[]; prepare: PrepareRun[] }[] = [];
  // With --peers (postgres-only subjects), sqlite's streams are left to a run without it.
  if (!options.peers) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sasync-bench-streams-'));
    const removeDir = () => fs.rm(dir, { recursive: true, force: true });
    runs.push(await onDatabase(options, sqlitePlace(dir, rows), fillSqlite, removeDir, progress));
  }
  if (postgres)
    runs.push(await onDatabase(options, postgresPlace(options.pgUrl, rows), fillPostgres, dropPostgres, progress));
  const streams = runs.flatMap((r) => r.streams);
  if (streams.length > 0) printStreams(streams, runs[0]!.streams[0]?.samples.length ?? 0, options.quick);
  if (options.peers && options.parts.has('streams') && !knexCanStream()) {
    console.log("Knex stream(): not measured: knex's pg client needs the pg-query-stream package, not installed here.");
  }
  const prepare = runs.flatMap((r) => r.prepare);
  if (prepare.length > 0) printPrepare(prepare);
}
