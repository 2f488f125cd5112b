import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { AccessBroker } from '../../lib';
import { appOptions } from '../support/data-sources';
import { fileAndPg, PG_URL, uniqueName } from '../support/targets';
import { schemaOf } from './fixtures';

const CLI = path.join(__dirname, '../../lib/migrations/cli.ts');
const MODULE = path.join(__dirname, 'data-source-module.ts');
const run = promisify(execFile);

/** `sasync migrate [--sql]` in a child process, on the note migrations with prefix `p`. */
async function cli(options: object, p: string, ...args: string[]): Promise<string> {
  const env = { ...process.env, SASYNC_MIGRATE_OPTIONS: JSON.stringify(options), SASYNC_MIGRATE_PREFIX: p };
  const { stdout } = await run(process.execPath, ['--import', 'tsx', CLI, 'migrate', ...args, '-d', MODULE], { env });
  return stdout;
}

/** Runs `command` with `script` on its stdin; rejects with its stderr unless it exits 0. */
function feed(command: string, args: string[], script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 && !err ? resolve() : reject(new Error(`${command} exited ${code}: ${err}`)),
    );
    child.stdin.end(script);
  });
}

/** A schema read under prefix `p`, with `p` written as `P`, so that two prefixes' schemas compare. */
async function schemaUnder(b: AccessBroker, p: string): Promise<unknown> {
  const tables = ['notes', 'runs', 'migrations'].map((t) => `${p}_${t}`);
  return JSON.parse(
    JSON.stringify(await schemaOf(b, tables))
      .replaceAll(p, 'P')
      .replace(/PK_[0-9a-f]+/g, 'PK'),
  );
}

describe.each(fileAndPg)('sasync migrate --sql [$name]', (t) => {
  it('prints a script that, applied by psql / sqlite3, gives the schema migrate() gives, and changes nothing itself', async () => {
    const options = appOptions(t);
    const b = new AccessBroker(options);
    const [direct, scripted] = [uniqueName('md'), uniqueName('ms')];
    for (const p of [direct, scripted]) await b.query(`CREATE TABLE ${p}_runs (name varchar(50))`);

    await cli(options, direct);
    const script = await cli(options, scripted, '--sql');
    expect(script).toMatch(/^-- 3 pending migration\(s\)/);
    expect(script).toContain(`CREATE TABLE ${scripted}_notes`);
    expect(script).toContain(`-- AddBody1700000000002\nALTER TABLE ${scripted}_notes ADD COLUMN body text;`);
    expect(script).not.toMatch(/^SELECT/m);
    // Printing it changed nothing: no migrations table, no notes table, no runs.
    expect(await schemaOf(b, [`${scripted}_notes`, `${scripted}_migrations`])).toEqual({
      [`${scripted}_notes`]: { columns: [], indexes: [] },
      [`${scripted}_migrations`]: { columns: [], indexes: [] },
    });

    if (t.dialect === 'postgres') await feed('psql', [PG_URL, '-v', 'ON_ERROR_STOP=1', '-q', '-f', '-'], script);
    else await feed('sqlite3', ['-bail', String((options as { database: string }).database)], script);
    expect(await schemaUnder(b, scripted)).toEqual(await schemaUnder(b, direct));
    const recorded = (p: string) => b.query<{ name: string }>(`SELECT name FROM ${p}_migrations ORDER BY id`);
    expect(await recorded(scripted)).toEqual(await recorded(direct));
    // With nothing pending, the script only says so.
    expect(await cli(options, scripted, '--sql')).toMatch(/^-- 0 pending migration\(s\)[^]*BEGIN;\n\nCOMMIT;\n$/);

    for (const p of [direct, scripted])
      for (const table of ['notes', 'runs', 'migrations']) await b.query(`DROP TABLE IF EXISTS ${p}_${table}`);
    await b.shutdown();
  });
});
