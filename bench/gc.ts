import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection, and how it was obtained. `npm run bench` runs
 * plain `tsx` (no `--expose-gc`), so without a global `gc` the flag is turned
 * on at run time and the function taken from a fresh context.
 */
export function getGc(): { gc: () => void; how: string } {
  const global = globalThis as { gc?: () => void };
  if (typeof global.gc === 'function') return { gc: global.gc, how: '--expose-gc' };
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as unknown;
    if (typeof gc === 'function') return { gc: gc as () => void, how: 'v8.setFlagsFromString(--expose-gc)' };
  } catch {
    // fall through
  }
  return { gc: () => undefined, how: 'unavailable: heap numbers include garbage' };
}

/** heapUsed after a full collection (twice: weak callbacks free more on the second). */
export function settledHeap(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}
