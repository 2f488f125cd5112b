import { until } from './streams';
/**
 * What keeps the process alive, counted by type, so that a random program
 * can be checked to leave nothing behind (connections, timers, listeners)
 * once everything is shut down, whatever the test runner holds itself.
 */
export function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Resources beyond `baseline`, as `type ×n`; empty when there are none. */
export function extraResources(baseline: ReadonlyMap<string, number>): string[] {
  const extra: string[] = [];
  for (const [type, n] of resourceCounts()) {
    const more = n - (baseline.get(type) ?? 0);
    if (more > 0) extra.push(`${type} ×${more}`);
  }
  return extra;
}

/**
 * Waits (up to `ms`) until no more resources are active than in `baseline`:
 * sockets and handles close a few turns after the calls that close them.
 * Resolves with what is still left over (empty when nothing is).
 */
export async function settleResources(baseline: ReadonlyMap<string, number>, ms: number): Promise<string[]> {
  await until(() => extraResources(baseline).length === 0, 'resources released', ms).catch(() => undefined);
  return extraResources(baseline);
}

/**
 * `promise`, unless it does not settle within `ms`: then a rejection saying
 * what hung. The timer is cleared either way.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HangError(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

export class HangError extends Error {
  override name = 'HangError';
}
