import { SUBJECT_LABELS, type SubjectName } from '../subject';
import { median } from '../stats';
import { medianCpu, medianOps, medianRatio, type TxResult } from '../transactions';

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const met = (ok: boolean): string => (ok ? 'yes' : 'NO');

/** Round trips per transaction, counted by the latency proxy (when it ran). */
function roundTrips(r: TxResult, s: SubjectName): Record<string, string> {
  const counts = r.roundTrips[s];
  return counts && counts.length > 0 ? { 'round trips/tx': median(counts).toFixed(2) } : {};
}

/**
 * The postgres transaction, every subject (with `--peers`): one row per
 * (in flight, subject). Ratios are medians of per-round ratios; client CPU is
 * the subject's own process, user + system, per transaction.
 */
export function printPeers(results: readonly TxResult[], latencyMs: number): void {
  const rows = results.filter((r) => r.kind === 'postgres');
  if (rows.length === 0) return;
  const has = (r: TxResult, s: SubjectName) => r.subjects.includes(s);
  const where = latencyMs > 0 ? `through the latency proxy, +${latencyMs} ms each way` : 'loopback';
  console.log(`\nPeers: the postgres transaction (BEGIN; INSERT … RETURNING; SELECT by id; COMMIT), ${where}`);
  console.table(
    rows.flatMap((r) =>
      r.subjects.map((s: SubjectName) => ({
        'in flight': r.inFlight,
        subject: SUBJECT_LABELS[s],
        'tx/s': int(medianOps(r, s)),
        'x raw pg': medianRatio(r, s, 'raw').toFixed(2),
        ...(has(r, 'pipelined') ? { 'x pg pipelined': medianRatio(r, s, 'pipelined').toFixed(2) } : {}),
        'x TypeORM': medianRatio(r, s, 'typeorm').toFixed(2),
        'CPU µs/tx': int(medianCpu(r, s)),
        'CPU x raw pg': (medianCpu(r, s) / medianCpu(r, 'raw')).toFixed(2),
        ...roundTrips(r, s),
      })),
    ),
  );
  console.log("Issue 12's transaction targets, judged on this run:");
  console.table(
    rows.flatMap((r) =>
      // sasync as the bench's work is written, and with commitWith() (with --peers).
      (['sasync', 'commitWith'] as const)
        .filter((s) => has(r, s))
        .flatMap((s) => {
          const cpu = { sasync: medianCpu(r, s), typeorm: medianCpu(r, 'typeorm') };
          // 1 in flight: against raw pg (1.25x through a 1 ms proxy); more: against pg pipelined.
          const [base, goal] =
            r.inFlight === 1 || !has(r, 'pipelined')
              ? (['raw', latencyMs >= 1 && r.inFlight === 1 ? 1.25 : 1] as const)
              : (['pipelined', 1] as const);
          const ratio = medianRatio(r, s, base);
          return [
            {
              'in flight': r.inFlight,
              target: `${SUBJECT_LABELS[s]} >= ${goal.toFixed(2)}x ${SUBJECT_LABELS[base]}`,
              value: ratio.toFixed(2),
              met: met(ratio >= goal),
            },
            {
              'in flight': r.inFlight,
              target: `client CPU µs: ${SUBJECT_LABELS[s]} <= TypeORM`,
              value: `${int(cpu.sasync)} / ${int(cpu.typeorm)}`,
              met: met(cpu.sasync <= cpu.typeorm),
            },
          ];
        }),
    ),
  );
}
