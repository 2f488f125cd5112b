// A child process for spec/model/exit.spec.ts: runs a few random programs on
// every dialect, prints "done", and returns from main. It must then exit by
// itself: whatever a program left running (a connection, a timer, a
// listener) would keep it alive.
import { checkPrograms } from './model-run';
import { allTargets } from './targets';

async function main(): Promise<void> {
  const seed = Number(process.argv[2] ?? 1);
  for (const t of allTargets) {
    await checkPrograms(t, { numRuns: 3, maxCommands: 10, timeLimitMs: 8000, shrinkMs: 5000, soak: false, seed });
  }
  process.stdout.write('done\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 1;
});
