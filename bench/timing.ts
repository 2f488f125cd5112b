/** One transaction of the workload: resolves with the row it read back. */
export type RunOne = (i: number) => Promise<{ n: number } | undefined>;

export interface Measure {
  readonly warmup: number;
  readonly count: number;
  /** How many transactions are in flight at once. */
  readonly inFlight: number;
}

/** One timed run. */
export interface Sample {
  readonly opsPerSecond: number;
  /** CPU time of this (client) process per transaction, user + system: steadier than wall time. */
  readonly cpuMicrosPerOp: number;
}

/**
 * Runs `count` transactions with `inFlight` workers, each awaiting its own
 * one before it starts the next; checks that each read back its own row.
 */
export async function runMany(run: RunOne, count: number, inFlight: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const row = await run(i);
      if (row?.n !== i) throw new Error(`transaction ${i} read back ${JSON.stringify(row)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

/** Warms up, then times `count` transactions. */
export async function measure(run: RunOne, { warmup, count, inFlight }: Measure): Promise<Sample> {
  await runMany(run, warmup, inFlight);
  const cpu = process.cpuUsage();
  const start = performance.now();
  await runMany(run, count, inFlight);
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { opsPerSecond: count / seconds, cpuMicrosPerOp: (used.user + used.system) / count };
}
