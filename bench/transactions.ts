import { median } from './stats';
import { SUBJECTS, type SubjectName } from './subject';
import { spawnSubject, type RemoteSubject } from './subject-process';
import type { Sample } from './timing';
import { tableName, type DbKind } from './workload';

/** How one database is benchmarked. */
export interface TxPlan {
  readonly kind: DbKind;
  /** sasync's target for a subject (sqlite: one file per subject). */
  readonly targetFor: (subject: SubjectName) => string;
  /** Transactions each subject runs once when opened (JIT, caches, pool), and again before each timed run. */
  readonly firstWarmup: number;
  readonly warmup: number;
  readonly count: number;
  readonly rounds: number;
  readonly inFlight: readonly number[];
}

/** Results of one (database, in-flight) row: a sample per round, per subject. */
export interface TxResult {
  readonly kind: DbKind;
  readonly inFlight: number;
  readonly samples: Record<SubjectName, Sample[]>;
}

/**
 * Opens the three subjects, each in its own process on a fresh table, and
 * runs them one at a time in interleaved rounds (the order rotates each
 * round), so that a noisy moment of the machine hits every subject alike.
 */
export async function benchTransactions(plan: TxPlan, progress: (line: string) => void): Promise<TxResult[]> {
  const { kind } = plan;
  const subjects: RemoteSubject[] = [];
  try {
    for (const name of SUBJECTS) {
      const subject = await spawnSubject({ name, kind, target: plan.targetFor(name), table: tableName(name) });
      subjects.push(subject);
      for (const inFlight of plan.inFlight) await subject.measure({ warmup: 0, count: plan.firstWarmup, inFlight });
    }
    const results: TxResult[] = plan.inFlight.map((inFlight) => ({
      kind,
      inFlight,
      samples: { sasync: [], typeorm: [], raw: [] },
    }));
    for (let round = 0; round < plan.rounds; round++) {
      for (const result of results) {
        const order = rotate(subjects, round);
        for (const subject of order) {
          result.samples[subject.name].push(await subject.measure({ ...plan, inFlight: result.inFlight }));
        }
        const line = order.map((s) => `${s.name} ${Math.round(result.samples[s.name].at(-1)!.opsPerSecond)}`);
        progress(`  ${kind} round ${round + 1}/${plan.rounds}, ${result.inFlight} in flight: ${line.join(', ')} tx/s`);
      }
    }
    return results;
  } finally {
    for (const subject of subjects) {
      await subject.close().catch((err: unknown) => progress(`  !! closing ${subject.name} failed: ${String(err)}`));
    }
  }
}

/** The median over rounds of one subject's ops/s. */
export function medianOps(result: TxResult, subject: SubjectName): number {
  return median(result.samples[subject].map((s) => s.opsPerSecond));
}

/** The median over rounds of one subject's client CPU µs per transaction. */
export function medianCpu(result: TxResult, subject: SubjectName): number {
  return median(result.samples[subject].map((s) => s.cpuMicrosPerOp));
}

/** The median, over rounds, of `a`'s ops/s divided by `b`'s in the same round. */
export function medianRatio(result: TxResult, a: SubjectName, b: SubjectName): number {
  return median(result.samples[a].map((s, round) => s.opsPerSecond / result.samples[b][round]!.opsPerSecond));
}

/** `a`'s best round divided by `b`'s best round. */
export function bestRatio(result: TxResult, a: SubjectName, b: SubjectName): number {
  const best = (s: SubjectName) => Math.max(...result.samples[s].map((x) => x.opsPerSecond));
  return best(a) / best(b);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
