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
 * SASYNC_MODEL_SEED, SASYNC_MODEL_PATH and SASYNC_MODEL_REPLAY.
 */
export interface ProgramSettings {
  readonly numRuns: number;
  readonly maxCommands: number;
  readonly timeLimitMs: number;
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
    return { numRuns: 1_000_000, maxCommands: 30, timeLimitMs: minutes * 60_000, ...replay };
  }
  const runs = Number(env.SASYNC_MODEL_RUNS ?? 20);
  return { numRuns: runs, maxCommands: 15, timeLimitMs: 9_000, ...replay };
}

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
 * program is shrunk and reported with its seed, path and commands.
 */
export async function checkPrograms(t: TestTarget, settings: ProgramSettings = programSettings()): Promise<void> {
  const holes = enabledHoles(t.dialect);
  const arbitrary = programs({
    dialect: t.dialect,
    holes,
    maxCommands: settings.maxCommands,
    replayPath: settings.replayPath,
  });
  await fc.assert(
    fc.asyncProperty(arbitrary, (cmds) => runProgram(t, holes, cmds)),
    {
      numRuns: settings.numRuns,
      interruptAfterTimeLimit: settings.timeLimitMs,
      markInterruptAsFailure: false,
      seed: settings.seed,
      path: settings.path,
      endOnFailure: settings.path !== undefined,
    },
  );
}
