import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { dropTables, probePostgres, sqliteVersion, type PostgresProbe } from './environment';
import { measureRoundTrip } from './latency-check';
import { postgresAddress, startLatencyProxy, throughProxy, type LatencyProxy } from './latency-proxy';
import { readOptions, type BenchOptions } from './options';
import { LIB_ENV, sasyncLibLabel } from './sasync-lib';
import { printCpu, printHeader, printRounds, printScheduler, printTransactions } from './report';
import { benchQueuedMemory, benchSchedulerThroughput } from './scheduler';
import { benchStatalysis } from './statalysis';
import { benchStores } from './stores';
import { benchStreamParts } from './streams';
import { printPeers } from './peers/report';
import { PEERS, SQLITE_EXTRAS, SUBJECTS, type SubjectName } from './subject';
import { benchTransactions, type TxPlan, type TxResult } from './transactions';
import { SQLITE_SYNC, tableName, type DbKind } from './workload';

const IN_FLIGHT = [1, 8];
const SCHEDULER_TASKS = 100_000;

const progress = (line: string): void => console.error(line);

/**
 * The plan for one database; `--quick` shrinks the counts (numbers not
 * comparable), and so does `--latency` (a transaction then waits milliseconds).
 */
function plan(
  options: BenchOptions,
  kind: DbKind,
  targetFor: TxPlan['targetFor'],
  count: number,
  subjects: readonly SubjectName[],
): TxPlan {
  const slow = kind === 'postgres' && options.latencyMs > 0 ? 10 : 1;
  return {
    kind,
    targetFor,
    firstWarmup: (options.quick ? 200 : 1000) / slow,
    warmup: 200 / slow,
    count: (options.quick ? count / 5 : count) / slow,
    rounds: options.rounds,
    inFlight: IN_FLIGHT,
    subjects,
  };
}

/** The postgres subjects: with `--peers`, sasync with commitWith(), pg pipelined, Kysely, Knex and postgres.js too. */
const postgresSubjects = (options: BenchOptions): SubjectName[] =>
  options.peers ? [...SUBJECTS, ...PEERS] : [...SUBJECTS];

/**
 * sqlite, once with `synchronous = FULL` (every COMMIT waits for the WAL's
 * fsync) and once with NORMAL (no fsync at COMMIT: bound by CPU), set
 * explicitly on every subject; node-sqlite3 with its Statements kept runs
 * beside the others.
 */
async function sqliteRows(options: BenchOptions): Promise<TxResult[]> {
  const rows: TxResult[] = [];
  for (const synchronous of SQLITE_SYNC) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sasync-bench-'));
    try {
      // One file per subject, in WAL mode (what a 'sqlite:/path/x.db' target sets).
      const targetFor = (subject: SubjectName) => `sqlite:${path.join(dir, `${subject}.db`)}`;
      const base = plan(options, 'sqlite', targetFor, 2000, [...SUBJECTS, ...SQLITE_EXTRAS]);
      rows.push(...(await benchTransactions({ ...base, synchronous }, progress)));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

async function postgresRows(options: BenchOptions, proxy: LatencyProxy | undefined): Promise<TxResult[]> {
  try {
    const base = plan(options, 'postgres', () => options.pgUrl, 3000, postgresSubjects(options));
    return await benchTransactions(proxy ? { ...base, roundTrips: proxy.roundTrips } : base, progress);
  } finally {
    // Each subject drops its own table; this catches those of a subject that died.
    await dropTables(options.pgUrl, postgresSubjects(options).map(tableName));
  }
}

/**
 * With `--latency`, starts the proxy and points every postgres connection at
 * it; prints the `SELECT 1` round trip with and without it.
 */
async function withLatency(options: BenchOptions): Promise<{ options: BenchOptions; proxy?: LatencyProxy }> {
  if (options.latencyMs <= 0) return { options };
  const proxy = await startLatencyProxy({ to: postgresAddress(options.pgUrl), delayMs: options.latencyMs });
  const proxied = throughProxy(options.pgUrl, proxy);
  try {
    const direct = await measureRoundTrip(options.pgUrl);
    const through = await measureRoundTrip(proxied);
    const ms = (n: number) => n.toFixed(2);
    console.log(`\nLatency proxy: 127.0.0.1:${proxy.port}, +${options.latencyMs} ms each way. SELECT 1 round trip`);
    console.table([
      { path: 'direct', 'median ms': ms(direct.medianMs), 'p10 ms': ms(direct.p10Ms), 'p90 ms': ms(direct.p90Ms) },
      { path: 'proxy', 'median ms': ms(through.medianMs), 'p10 ms': ms(through.p10Ms), 'p90 ms': ms(through.p90Ms) },
    ]);
  } catch (err) {
    console.log(`\nLatency proxy: the round-trip check failed (${String(err)})`);
  }
  return { options: { ...options, pgUrl: proxied }, proxy };
}

async function main(): Promise<void> {
  const read = readOptions();
  if (read.lib !== undefined) process.env[LIB_ENV] = read.lib; // the subjects' processes inherit it
  const { parts } = read;
  const wantPg =
    parts.has('postgres') ||
    parts.has('streams') ||
    parts.has('prepare') ||
    parts.has('stores') ||
    parts.has('statalysis');
  const pg: PostgresProbe | undefined = wantPg ? await probePostgres(read.pgUrl) : undefined;
  printHeader({
    sasync: sasyncLibLabel(),
    sqlite: sqliteVersion(),
    postgres: pg ? (pg.ok ? `${pg.version} at ${redact(read.pgUrl)}` : 'UNREACHABLE') : 'not run',
    parts: [...parts].join(', ') + (read.quick ? ' (--quick: counts too small to compare)' : ''),
    ...(read.peers ? { peers: 'sasync commitWith, pg pipelined, Kysely, Knex, postgres.js (postgres only)' } : {}),
    ...(read.latencyMs > 0 ? { 'latency proxy': `+${read.latencyMs} ms each way on every postgres connection` } : {}),
  });
  const { options, proxy } = pg?.ok ? await withLatency(read) : { options: read, proxy: undefined };
  try {
    await runParts(options, pg, proxy);
  } finally {
    await proxy?.close();
  }
}

async function runParts(
  options: BenchOptions,
  pg: PostgresProbe | undefined,
  proxy: LatencyProxy | undefined,
): Promise<void> {
  const streamParts = options.parts.has('streams') || options.parts.has('prepare');
  if (pg && !pg.ok) {
    console.log(`\n!!!!! POSTGRES SKIPPED: ${redact(options.pgUrl)} is unreachable (${pg.reason}).`);
    console.log('!!!!! Set SASYNC_PG_URL or start postgres; running the other parts.\n');
  }

  const rows: TxResult[] = [];
  if (options.parts.has('sqlite')) rows.push(...(await sqliteRows(options)));
  if (pg?.ok && options.parts.has('postgres')) rows.push(...(await postgresRows(options, proxy)));
  if (rows.length > 0) {
    printTransactions(rows, options.rounds);
    printCpu(rows);
    printRounds(rows);
    if (options.peers || options.latencyMs > 0) printPeers(rows, options.latencyMs);
  }

  if (options.parts.has('scheduler')) {
    const tasks = options.quick ? 20_000 : SCHEDULER_TASKS;
    const throughput = await benchSchedulerThroughput(tasks, options.rounds);
    const memory = await benchQueuedMemory(tasks);
    printScheduler(throughput, memory);
  }

  if (streamParts) await benchStreamParts(options, pg?.ok ?? false, progress);
  if (options.parts.has('stores')) await benchStores(options, pg?.ok ?? false, progress);
  if (options.parts.has('statalysis')) {
    await benchStatalysis({ pgUrl: options.pgUrl, lines: options.quick ? 20_000 : 200_000 }, progress);
  }
}

function redact(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
