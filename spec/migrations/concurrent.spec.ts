import { spawn } from 'node:child_process';
import path from 'node:path';
import { AccessBroker } from '../../lib';
import { appOptions } from '../support/data-sources';
import { fileAndPg, uniqueName } from '../support/targets';

const CHILD = path.join(__dirname, 'migrate-child.ts');

/** A migrating child process: `ready` resolves once it printed ready, `done` with what it ran. */
function child(options: object, p: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(options), p], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) resolve();
    });
    proc.on('exit', () => reject(new Error(`child exited before ready: ${err}`)));
  });
  const done = new Promise<string[]>((resolve, reject) =>
    proc.on('exit', (code) => {
      const line = /ran (.*)\n/.exec(out);
      if (code === 0 && line) resolve(JSON.parse(line[1]!) as string[]);
      else reject(new Error(`child exited ${code}: ${err}`));
    }),
  );
  return { proc, ready, done };
}

describe.each(fileAndPg)('migrate() from two processes at once [$name]', (t) => {
  it('runs each migration once: the second process waits for the lock, then finds it done', async () => {
    const p = uniqueName('mc');
    const options = appOptions(t);
    const b = new AccessBroker(options);
    await b.query(`CREATE TABLE ${p}_runs (name varchar(50))`);
    const children = [child(options, p), child(options, p)];
    await Promise.all(children.map((c) => c.ready));
    for (const c of children) c.proc.stdin.end('go\n');
    const ran = await Promise.all(children.map((c) => c.done));
    // Between them, the two ran each migration exactly once.
    expect(ran.flat().sort()).toEqual(['AddBody1700000000002', 'CreateNotes1700000000001', 'IndexTitle1700000000003']);
    const runs = await b.query<{ name: string; n: number }>(
      `SELECT name, COUNT(*) AS n FROM ${p}_runs GROUP BY name ORDER BY name`,
    );
    expect(runs.map((r) => [r.name, Number(r.n)])).toEqual([
      ['body', 1],
      ['create', 1],
      ['index', 1],
    ]);
    for (const table of ['notes', 'runs', 'migrations']) await b.query(`DROP TABLE IF EXISTS ${p}_${table}`);
    await b.shutdown();
  });
});
