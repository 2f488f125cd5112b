import { spawn } from 'node:child_process';
import path from 'node:path';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

const CHILD = path.join(__dirname, 'fixtures', 'forgetful-dict.ts');

/**
 * A program that forgets shutdown() still exits once its work is done: the
 * listening connection (and its reconnection timers) do not hold the event
 * loop, nor do idle pool connections for longer than the pool keeps them.
 */
describe.each(allTargets)('a PersistentDict never shut down [$name]', (t) => {
  it(`lets its process exit by itself [${t.name}]`, async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, t.target(), uniqueName('g')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Generous: pg's pool closes idle connections after 10 s where they are not unref'd.
      const code = await within(exited, 'the process exiting by itself', 40_000);
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(out).toContain('done [1,2]');
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
