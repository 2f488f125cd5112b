import os from 'node:os';
import type { SchedulerMemory, SchedulerThroughput } from './scheduler';
import { spreadPercent } from './stats';
import { SUBJECTS } from './subject';
import { bestRatio, medianCpu, medianOps, medianRatio, samplesOf, type TxResult } from './transactions';

/** What sasync must reach against TypeORM used directly, in every transaction row. */
export const TYPEORM_RATIO_TARGET = 0.95;
export const SCHEDULER_TASKS_TARGET = 250_000;
export const QUEUED_MEMORY_TARGET = 100 * 1024 * 1024;

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ratio = (n: number): string => n.toFixed(3);
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const met = (ok: boolean): string => (ok ? 'yes' : 'NO');

/** The machine and software the numbers come from. */
export function printHeader(versions: Record<string, string>): void {
  const cpus = os.cpus();
  console.log('sasync benchmarks');
  console.table({
    date: new Date().toISOString(),
    cpu: `${cpus.length} cores, ${cpus[0]?.model ?? 'unknown model'}`,
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    ...versions,
  });
}

/**
 * One row per (database, in flight): median tx/s over rounds; ratios as the
 * median of per-round ratios (the target is judged on that), and best round
 * against best round (interference only ever slows a run down).
 */
export function printTransactions(results: readonly TxResult[], rounds: number): void {
  console.log(`\nTransactions per second: insert one row + select it by id (median of ${rounds} interleaved rounds)`);
  console.table(
    results.map((r) => {
      const vsTypeorm = medianRatio(r, 'sasync', 'typeorm');
      const spread = Math.max(...SUBJECTS.map((s) => spreadPercent(samplesOf(r, s).map((x) => x.opsPerSecond))));
      return {
        database: r.database,
        'in flight': r.inFlight,
        ...Object.fromEntries(SUBJECTS.map((s) => [`${s} tx/s`, int(medianOps(r, s))])),
        'sasync/typeorm': ratio(vsTypeorm),
        'best/best': ratio(bestRatio(r, 'sasync', 'typeorm')),
        'sasync/raw': ratio(medianRatio(r, 'sasync', 'raw')),
        ...(r.samples.rawPrepared ? { 'sasync/raw prepared': ratio(medianRatio(r, 'sasync', 'rawPrepared')) } : {}),
        [`>= ${TYPEORM_RATIO_TARGET}`]: met(vsTypeorm >= TYPEORM_RATIO_TARGET),
        'max spread': `±${spread.toFixed(1)}%`,
      };
    }),
  );
}

/** CPU time of the client process per transaction: what each layer costs, less noisy than tx/s. */
export function printCpu(results: readonly TxResult[]): void {
  console.log("\nClient CPU per transaction (µs, user + system of the subject's own process; median)");
  console.table(
    results.map((r) => ({
      database: r.database,
      'in flight': r.inFlight,
      ...Object.fromEntries(SUBJECTS.map((s) => [`${s} µs`, int(medianCpu(r, s))])),
      'sasync - typeorm': int(medianCpu(r, 'sasync') - medianCpu(r, 'typeorm')),
      'sasync - raw': int(medianCpu(r, 'sasync') - medianCpu(r, 'raw')),
      ...(r.samples.rawPrepared ? { 'raw prepared µs': int(medianCpu(r, 'rawPrepared')) } : {}),
    })),
  );
}

/** Every round, for judging the noise. */
export function printRounds(results: readonly TxResult[]): void {
  console.log('\nEvery round (tx/s)');
  console.table(
    results.flatMap((r) =>
      r.subjects.map((s) => ({
        database: r.database,
        'in flight': r.inFlight,
        subject: s,
        ...Object.fromEntries(samplesOf(r, s).map((x, i) => [`round ${i + 1}`, int(x.opsPerSecond)])),
      })),
    ),
  );
}

export function printScheduler(throughput: readonly SchedulerThroughput[], memory: SchedulerMemory): void {
  console.log('\nPriorityScheduler(1), no-op tasks with mixed niceness (submit all, then await drain())');
  console.table(
    throughput.map((t) => ({
      case: t.case,
      tasks: int(t.tasks),
      'tasks/s': int(t.tasksPerSecond),
      [`>= ${int(SCHEDULER_TASKS_TARGET)}`]: met(t.tasksPerSecond >= SCHEDULER_TASKS_TARGET),
    })),
  );
  console.log(`\nMemory of queued tasks (heapUsed growth; gc: ${memory.gc})`);
  console.table([
    {
      'queued tasks': int(memory.tasks),
      'heap growth': mb(memory.queuedBytes),
      'bytes/task': int(memory.queuedBytes / memory.tasks),
      [`< ${mb(QUEUED_MEMORY_TARGET)}`]: met(memory.queuedBytes < QUEUED_MEMORY_TARGET),
      'left after drain': mb(memory.retainedAfterDrainBytes),
    },
  ]);
}
