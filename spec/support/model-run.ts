import fc from 'fast-check';
import { programs, type Cmd } from './model-commands';
import { ModelFailure } from './model-ledger';
import { enabledHoles, type Hole } from './model-plans';
import { World } from './model-world';
import type { TestTarget } from './targets';

/**
 * How many random programs to run. `npm test` runs a bounded few per
 * dialect; `npm run soak` (SASYNC_SOAK=1) runs programs for
 * SASYNC_SOAK_MINUTES (default 10) per dialect. A failure reported with
 * `{ seed, path }` (and a replayPath in its counterexample) replays with
 * SASYNC_MODEL_SEED, SASYNC_MODEL_PATH and SASYNC_MODEL_REPLAY (with the
 * same SASYNC_SOAK, which sets the program size). SASYNC_MODEL_DEBUG=1 prints
 * each program's operations; SASYNC_MODEL_HOLES (see model-plans.ts) lets
 * programs exercise holes still open.
 */
export interface ProgramSettings {
  /** Programs per fast-check run (a soak makes run after run until its time is up). */
  readonly numRuns: number;
  readonly maxCommands: number;
  /** No new program starts after this long (one running is never cut short: it could hide a hang). */
  readonly timeLimitMs: number;
  /** How long a failure may be shrunk before the smallest failing program found is reported. */
  readonly shrinkMs: number;
  readonly soak: boolean;
  readonly seed?: number;
  readonly path?: string;
  readonly replayPath?: string;
}

export function programSettings(env: NodeJS.ProcessEnv = process.env): ProgramSettings {
  const replay = {
    seed: env.SASYNC_MODEL_SEED ? Number(env.SASYNC_MODEL_SEED) : undefined,
    path: env.SASYNC_MODEL_PATH || undefined,
    replayPath: env.SASYNC_MODEL_REPLAY || undefined,
  };
  if (env.SASYNC_SOAK) {
    const minutes = Number(env.SASYNC_SOAK_MINUTES ?? 10);
    return { numRuns: 50, maxCommands: 30, timeLimitMs: minutes * 60_000, shrinkMs: 600_000, soak: true, ...replay };
  }
  const runs = Number(env.SASYNC_MODEL_RUNS ?? 40);
  return { numRuns: runs, maxCommands: 25, timeLimitMs: 9_000, shrinkMs: 30_000, soak: false, ...replay };
}

/** How long the bounded run's test may take, failures (a hung program, shrinking) included. */
export const BOUNDED_TEST_MS = 180_000;

/** Runs one program: sets up a World, runs the commands, then ends and checks everything. */
export async function runProgram(t: TestTarget, holes: ReadonlySet<Hole>, cmds: Iterable<Cmd>): Promise<void> {
  const world = await World.create(t, holes);
  let failure: unknown;
  try {
    await fc.asyncModelRun(() => ({ model: {}, real: world }), cmds);
  } catch (error) {
    failure = error;
  }
  try {
    await world.finish();
  } catch (error) {
    // Both: what a command found, and what the end of the program found.
    if (failure === undefined) throw error;
    throw new ModelFailure(`${String(failure)}\n--- and at the end of the program:\n${String(error)}`);
  }
  if (failure !== undefined) throw failure;
}

/**
 * Runs random programs on `t` until `settings` says stop; a failing
 * program is shrunk (for at most `shrinkMs`) and reported with its seed,
 * path and commands.
 */
export async function checkPrograms(t: TestTarget, settings: ProgramSettings = programSettings()): Promise<void> {
  const holes = enabledHoles(t.dialect);
  const arbitrary = programs({
    dialect: t.dialect,
    holes,
    maxCommands: settings.maxCommands,
    replayPath: settings.replayPath,
  });
  const end = Date.now() + settings.timeLimitMs;
  const replaying = settings.path !== undefined;
  // fast-check's own time limits would cut a running program short (and a
  // hang with it): past the time, programs not yet started pass at once
  // instead; past the shrink budget, so do the candidates left to shrink.
  let shrinkEnd: number | undefined;
  const property = fc.asyncProperty(arbitrary, async (cmds) => {
    if (!replaying && (shrinkEnd === undefined ? Date.now() > end : Date.now() > shrinkEnd)) return;
    try {
      await runProgram(t, holes, cmds);
    } catch (error) {
      shrinkEnd ??= Date.now() + settings.shrinkMs;
      throw error;
    }
  });
  do {
    await fc.assert(property, {
      numRuns: settings.numRuns,
      seed: settings.seed,
      path: settings.path,
      endOnFailure: replaying,
    });
  } while (settings.soak && !replaying && Date.now() < end);
}
