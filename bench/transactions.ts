import { median } from './stats';
import type { SubjectName } from './subject';
import { spawnSubject, type RemoteSubject } from './subject-process';
import type { Sample } from './timing';
import { tableName, type DbKind, type SqliteSync } from './workload';

/** How one database is benchmarked. */
export interface TxPlan {
  readonly kind: DbKind;
  /** sqlite's `synchronous` on every subject (FULL when not given). */
  readonly synchronous?: SqliteSync;
  /** sasync's target for a subject (sqlite: one file per subject). */
  readonly targetFor: (subject: SubjectName) => string;
  /** Transactions each subject runs once when opened (JIT, caches, pool), and again before each timed run. */
  readonly firstWarmup: number;
  readonly warmup: number;
  readonly count: number;
  readonly rounds: number;
  readonly inFlight: readonly number[];
  /** The subjects, in the order the first round runs them. */
  readonly subjects: readonly SubjectName[];
  /** With the latency proxy: its round-trip count so far, read around each timed run. */
  readonly roundTrips?: () => number;
}

/** Results of one (database, in-flight) row: a sample per round, per subject. */
export interface TxResult {
  readonly kind: DbKind;
  /** How the tables name the database: the kind, and sqlite's `synchronous`. */
  readonly database: string;
  readonly inFlight: number;
  readonly subjects: readonly SubjectName[];
  readonly samples: Partial<Record<SubjectName, Sample[]>>;
  /** With the latency proxy: round trips per transaction (warm-up included), a round each. */
  readonly roundTrips: Partial<Record<SubjectName, number[]>>;
}

/** One subject's samples, a round each (throws for a subject that was not run). */
export function samplesOf(result: TxResult, subject: SubjectName): Sample[] {
  const samples = result.samples[subject];
  if (!samples) throw new Error(`${subject} was not measured in this run`);
  return samples;
}

/**
 * Opens the subjects, each in its own process on a fresh table, and
 * runs them one at a time in interleaved rounds (the order rotates each
 * round), so that a noisy moment of the machine hits every subject alike.
 */
export async function benchTransactions(plan: TxPlan, progress: (line: string) => void): Promise<TxResult[]> {
  const { kind } = plan;
  const subjects: RemoteSubject[] = [];
  try {
    for (const name of plan.subjects) {
      const { synchronous } = plan;
      const subject = await spawnSubject({
        name,
        kind,
        target: plan.targetFor(name),
        table: tableName(name),
        synchronous,
      });
      subjects.push(subject);
      for (const inFlight of plan.inFlight) await subject.measure({ warmup: 0, count: plan.firstWarmup, inFlight });
    }
    const database = plan.synchronous ? `${kind}, synchronous = ${plan.synchronous}` : kind;
    const results: TxResult[] = plan.inFlight.map((inFlight) => ({
      kind,
      database,
      inFlight,
      subjects: plan.subjects,
      samples: Object.fromEntries(plan.subjects.map((s) => [s, []])),
      roundTrips: Object.fromEntries(plan.subjects.map((s) => [s, []])),
    }));
    for (let round = 0; round < plan.rounds; round++) {
      for (const result of results) {
        const order = rotate(subjects, round);
        for (const subject of order) {
          const before = plan.roundTrips?.();
          const { warmup, count } = plan;
          samplesOf(result, subject.name).push(await subject.measure({ warmup, count, inFlight: result.inFlight }));
          if (before !== undefined)
            result.roundTrips[subject.name]!.push((plan.roundTrips!() - before) / (warmup + count));
        }
        const line = order.map((s) => `${s.name} ${Math.round(samplesOf(result, s.name).at(-1)!.opsPerSecond)}`);
        progress(
          `  ${database} round ${round + 1}/${plan.rounds}, ${result.inFlight} in flight: ${line.join(', ')} tx/s`,
        );
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
  return median(samplesOf(result, subject).map((s) => s.opsPerSecond));
}

/** The median over rounds of one subject's client CPU µs per transaction. */
export function medianCpu(result: TxResult, subject: SubjectName): number {
  return median(samplesOf(result, subject).map((s) => s.cpuMicrosPerOp));
}

/** The median, over rounds, of `a`'s ops/s divided by `b`'s in the same round. */
export function medianRatio(result: TxResult, a: SubjectName, b: SubjectName): number {
  const bs = samplesOf(result, b);
  return median(samplesOf(result, a).map((s, round) => s.opsPerSecond / bs[round]!.opsPerSecond));
}

/** `a`'s best round divided by `b`'s best round. */
export function bestRatio(result: TxResult, a: SubjectName, b: SubjectName): number {
  const best = (s: SubjectName) => Math.max(...samplesOf(result, s).map((x) => x.opsPerSecond));
  return best(a) / best(b);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
