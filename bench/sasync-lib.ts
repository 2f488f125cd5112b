import path from 'node:path';

type Sasync = typeof import('../lib');

/** Set by `--lib`, inherited by the subjects' processes. */
export const LIB_ENV = 'SASYNC_BENCH_LIB';

/**
 * The sasync build under test: by default lib/ itself, through tsx; with
 * `--lib=dist/lib` (after `npm run build`) the compiled JavaScript users run.
 * tsx compiles with esbuild's keepNames, which adds an
 * `Object.defineProperty(fn, 'name')` to each closure the code creates: that
 * costs time and memory per task that a tsc build does not.
 */
export function sasyncLib(): Sasync {
  const dir = process.env[LIB_ENV];
  /* eslint-disable @typescript-eslint/no-require-imports */
  return dir ? (require(path.resolve(dir)) as Sasync) : (require('../lib') as Sasync);
  /* eslint-enable @typescript-eslint/no-require-imports */
}

/** Which build {@link sasyncLib} loads, for the report. */
export function sasyncLibLabel(): string {
  const dir = process.env[LIB_ENV];
  return dir ? `${path.resolve(dir)} (compiled)` : 'lib/ (TypeScript through tsx)';
}
