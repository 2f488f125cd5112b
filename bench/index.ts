import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { dropTables, probePostgres, sqliteVersion, type PostgresProbe } from './environment';
import { readOptions, type BenchOptions } from './options';
import { LIB_ENV, sasyncLibLabel } from './sasync-lib';
import { printCpu, printHeader, printRounds, printScheduler, printTransactions } from './report';
import { benchQueuedMemory, benchSchedulerThroughput } from './scheduler';
import { benchStatalysis } from './statalysis';
import { benchStores } from './stores';
import { benchStreamParts } from './streams';
import { SUBJECTS, type SubjectName } from './subject';
import { benchTransactions, type TxPlan, type TxResult } from './transactions';
import { tableName, type DbKind } from './workload';

const IN_FLIGHT = [1, 8];
const SCHEDULER_TASKS = 100_000;

const progress = (line: string): void => console.error(line);

/** The plan for one database; `--quick` shrinks the counts (numbers not comparable). */
function plan(options: BenchOptions, kind: DbKind, targetFor: TxPlan['targetFor'], count: number): TxPlan {
  return {
    kind,
    targetFor,
    firstWarmup: options.quick ? 200 : 1000,
    warmup: 200,
    count: options.quick ? count / 5 : count,
    rounds: options.rounds,
    inFlight: IN_FLIGHT,
  };
}

async function sqliteRows(options: BenchOptions): Promise<TxResult[]> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sasync-bench-'));
  try {
    // One file per subject, in WAL mode (what a 'sqlite:/path/x.db' target sets).
    const targetFor = (subject: SubjectName) => `sqlite:${path.join(dir, `${subject}.db`)}`;
    return await benchTransactions(plan(options, 'sqlite', targetFor, 2000), progress);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

async function postgresRows(options: BenchOptions): Promise<TxResult[]> {
  try {
    return await benchTransactions(
      plan(options, 'postgres', () => options.pgUrl, 3000),
      progress,
    );
  } finally {
    // Each subject drops its own table; this catches those of a subject that died.
    await dropTables(options.pgUrl, SUBJECTS.map(tableName));
  }
}

async function main(): Promise<void> {
  const options = readOptions();
  if (options.lib !== undefined) process.env[LIB_ENV] = options.lib; // the subjects' processes inherit it
  const streamParts = options.parts.has('streams') || options.parts.has('prepare');
  const wantPg =
    options.parts.has('postgres') || streamParts || options.parts.has('stores') || options.parts.has('statalysis');
  const pg: PostgresProbe | undefined = wantPg ? await probePostgres(options.pgUrl) : undefined;
  printHeader({
    sasync: sasyncLibLabel(),
    sqlite: sqliteVersion(),
    postgres: pg ? (pg.ok ? `${pg.version} at ${redact(options.pgUrl)}` : 'UNREACHABLE') : 'not run',
    parts: [...options.parts].join(', ') + (options.quick ? ' (--quick: counts too small to compare)' : ''),
  });
  if (pg && !pg.ok) {
    console.log(`\n!!!!! POSTGRES SKIPPED: ${redact(options.pgUrl)} is unreachable (${pg.reason}).`);
    console.log('!!!!! Set SASYNC_PG_URL or start postgres; running the other parts.\n');
  }

  const rows: TxResult[] = [];
  if (options.parts.has('sqlite')) rows.push(...(await sqliteRows(options)));
  if (pg?.ok && options.parts.has('postgres')) rows.push(...(await postgresRows(options)));
  if (rows.length > 0) {
    printTransactions(rows, options.rounds);
    printCpu(rows);
    printRounds(rows);
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
