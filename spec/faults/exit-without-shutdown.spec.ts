import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileAndPg, type TestTarget } from '../support/targets';

const CHILD = path.join(__dirname, 'fixtures', 'forget-shutdown.ts');

/** How long a child may take to exit once its work is done. */
const EXIT_WITHIN = 5000;

/** Runs the fixture on `target`; resolves with the ms from its "done" to its exit, and its exit code. */
function runChild(target: string): Promise<{ afterDone: number; code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, target], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let doneAt: number | undefined;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (doneAt === undefined && output.includes('done')) doneAt = Date.now();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // A generous guard: a child that never exits is killed and reported.
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (doneAt === undefined) return reject(new Error(`the child never finished its work:\n${output}`));
      resolve({ afterDone: Date.now() - doneAt, code, output });
    });
  });
}

/** A program that forgets shutdown() still exits when its work is done: idle pool connections hold nothing. */
describe.each(fileAndPg)('a program without shutdown() exits by itself [$name]', (t: TestTarget) => {
  it(`exits within ${EXIT_WITHIN} ms of its last transaction [${t.name}]`, async () => {
    const { afterDone, code, output } = await runChild(t.target());
    expect(output).toContain('done {"one":1}');
    expect(code).toBe(0);
    expect(afterDone).toBeLessThan(EXIT_WITHIN);
  });
});
