import { spawn } from 'node:child_process';
import path from 'node:path';

const CHILD = path.join(__dirname, '..', 'support', 'model-child.ts');

/** Runs the child; resolves with its exit code (or 'hung') and what it printed. */
function runChild(seed: number, exitWithinMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, String(seed)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<{ code: number | null | 'hung'; out: string; err: string }>((resolve) => {
    const timer = setTimeout(() => {
      // Only this child, by its own pid.
      child.kill('SIGKILL');
      resolve({ code: 'hung', out, err });
    }, exitWithinMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe('a process that ran random programs', () => {
  it('exits by itself once they are done, on every dialect, nothing left running', async () => {
    const seed = Math.floor(Math.random() * 2 ** 31);
    const { code, out, err } = await runChild(seed, 45_000);
    // The seed replays the same programs: node --import tsx spec/support/model-child.ts SEED
    if (code !== 0) throw new Error(`the child (seed ${seed}) ended with ${code}:\n${out}\n${err}`);
    expect(out).toContain('done');
  });
});
