import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { PG_URL, pgAvailable } from '../support/targets';

/**
 * The package as an app gets it: packed with `npm pack` from a copy of the
 * repository's sources (its prepack builds dist/ there), and installed
 * from the tarball into a fresh app with postgres' drivers only, no sqlite3.
 * Scripts in that app use it from an ES module and from CommonJS.
 */

const ROOT = path.join(__dirname, '..', '..');
const run = promisify(execFile);
const pgIt = pgAvailable ? it : it.skip;

/** The peers the app installs, at the versions this repository runs on (its TypeORM, its RxJS…). */
const PEERS = ['typeorm', 'rxjs', 'pg', 'pg-cursor', 'reflect-metadata'].map(
  (name) => `${name}@${readJson(path.join(ROOT, 'node_modules', name, 'package.json')).version as string}`,
);

let temp: string;
let app: string;

function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** The environment without npm's own variables: `npm test` sets npm_config_*, which must not steer the app's npm. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
}

/** Runs a script file of the app with node; its stdout lines parsed as JSON. */
async function script(name: string, source: string): Promise<Record<string, unknown>[]> {
  fs.writeFileSync(path.join(app, name), source);
  const { stdout } = await run(process.execPath, [name], {
    cwd: app,
    env: { ...cleanEnv(), SASYNC_PG_URL: PG_URL },
    timeout: 30_000,
  });
  return stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** A transaction and a row stream on postgres; `head` imports sasync and rxjs its own way. */
const USE_IT = `
const broker = new AccessBroker(process.env.SASYNC_PG_URL);
const counted = await lastValueFrom(
  broker.transact(async (tx) => {
    await tx.query('CREATE TEMP TABLE notes (body text) ON COMMIT DROP');
    await tx.query("INSERT INTO notes VALUES ('a'), ('b'), ('c')");
    return (await tx.query('SELECT count(*)::int AS n FROM notes'))[0].n;
  }),
);
const rows = [];
const stream = broker.stream('SELECT generate_series(1, 5) AS n', [], { batchSize: 2 });
for await (const row of stream) rows.push(row.n);
await broker.shutdown();
console.log(JSON.stringify({ counted, rows, isRowStream: stream instanceof RowStream }));
`;

/** Which driver packages a script has loaded so far (sasync is CommonJS: they show in require.cache). */
const LOADED_DRIVERS = `Object.keys(requireCache)
  .map((file) => /[\\\\/]node_modules[\\\\/](pg|pg-cursor|pg-pool|sqlite3)[\\\\/]/.exec(file)?.[1])
  .filter(Boolean)`;

beforeAll(async () => {
  temp = fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-e2e-'));
  const pkg = path.join(temp, 'package');
  app = path.join(temp, 'app');
  fs.mkdirSync(pkg);
  fs.mkdirSync(app);
  // A copy of the repository's sources, packed as a checkout is: npm pack runs prepack, which builds dist/
  // afresh (the repository's own dist/ is left alone). Its node_modules are the repository's.
  for (const entry of ['lib', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'LICENSE', 'README.md'])
    fs.cpSync(path.join(ROOT, entry), path.join(pkg, entry), { recursive: true });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'), 'dir');
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', temp], { cwd: pkg, env: cleanEnv() });
  const tarball = path.join(temp, stdout.trim().split('\n').pop()!);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'sasync-e2e-app', private: true }));
  await run('npm', ['install', tarball, ...PEERS, '--prefer-offline', '--no-audit', '--no-fund'], {
    cwd: app,
    env: cleanEnv(),
  });
}, 180_000);

afterAll(() => {
  if (temp) fs.rmSync(temp, { recursive: true, force: true });
});

describe('the packed package, installed into an app with postgres only', () => {
  it('installs without sqlite3, with the LICENSE and source maps that carry their sources', () => {
    expect(fs.existsSync(path.join(app, 'node_modules', 'sasync', 'dist', 'lib', 'index.js'))).toBe(true);
    expect(fs.existsSync(path.join(app, 'node_modules', 'sqlite3'))).toBe(false);
    expect(fs.existsSync(path.join(app, 'node_modules', 'sasync', 'LICENSE'))).toBe(true);
    const map = readJson(path.join(app, 'node_modules', 'sasync', 'dist', 'lib', 'index.js.map'));
    expect((map.sourcesContent as string[])[0]).toContain("from './broker/access-broker'");
  });

  pgIt('runs a transaction and a row stream from an ES module', async () => {
    const head = `import { AccessBroker, RowStream } from 'sasync';\nimport { lastValueFrom } from 'rxjs';\n`;
    expect(await script('use.mjs', head + USE_IT)).toEqual([{ counted: 3, rows: [1, 2, 3, 4, 5], isRowStream: true }]);
  });

  pgIt('runs a transaction and a row stream from CommonJS', async () => {
    const head = `const { AccessBroker, RowStream } = require('sasync');\nconst { lastValueFrom } = require('rxjs');\n`;
    const body = `(async () => {\n${USE_IT}\n})().catch((e) => { console.error(e); process.exitCode = 1; });\n`;
    expect(await script('use.cjs', head + body)).toEqual([{ counted: 3, rows: [1, 2, 3, 4, 5], isRowStream: true }]);
  });

  it('fails a sqlite target at once with the DatabaseError that names npm install sqlite3', async () => {
    const source = `
const { AccessBroker, DatabaseError } = require('sasync');
try {
  new AccessBroker('sqlite::memory:');
  console.log(JSON.stringify({ made: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, isDatabaseError: e instanceof DatabaseError, message: e.message }));
}
`;
    expect(await script('sqlite.cjs', source)).toEqual([
      {
        name: 'DatabaseError',
        isDatabaseError: true,
        message: 'sqlite3 is not installed: npm install sqlite3 (a sqlite target needs it)',
      },
    ]);
  });

  pgIt('keeps serving a postgres target after a sqlite target failed for its missing driver', async () => {
    const source = `
const { AccessBroker } = require('sasync');
const { lastValueFrom } = require('rxjs');
let failed = false;
try { new AccessBroker('sqlite::memory:'); } catch { failed = true; }
(async () => {
  const broker = new AccessBroker(process.env.SASYNC_PG_URL);
  const [row] = await lastValueFrom(broker.query('SELECT 1 AS one'));
  await broker.shutdown();
  console.log(JSON.stringify({ failed, one: row.one }));
})();
`;
    expect(await script('after.cjs', source)).toEqual([{ failed: true, one: 1 }]);
  });

  // 120 s: tsc over TypeORM's declarations with skipLibCheck off takes 15 s on a quiet machine, over 60 s on a loaded one.
  it('type-checks in an app with skipLibCheck off and no driver types installed (no @types/pg, no sqlite3)', async () => {
    fs.writeFileSync(
      path.join(app, 'typed.ts'),
      `import { AccessBroker, PersistentDict, type RowStream } from 'sasync';
import { lastValueFrom } from 'rxjs';
export async function count(broker: AccessBroker): Promise<number> {
  const [row] = await lastValueFrom(broker.query<{ n: number }>('SELECT 1 AS n'));
  return row!.n;
}
export const rows = (broker: AccessBroker): RowStream<{ n: number }> => broker.stream('SELECT 1 AS n');
export const dict = (): PersistentDict<string, number> => new PersistentDict('prefs');
`,
    );
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          noEmit: true,
          target: 'es2022',
          module: 'node16',
          moduleResolution: 'node16',
          // Node's types from the repository: the app under test installs none of its own.
          typeRoots: [path.join(ROOT, 'node_modules', '@types')],
          types: ['node'],
        },
        files: ['typed.ts'],
      }),
    );
    expect(fs.existsSync(path.join(app, 'node_modules', '@types', 'pg'))).toBe(false);
    const checked = await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.json'], {
      cwd: app,
      env: cleanEnv(),
    }).then(
      () => '',
      (err: { stdout?: string }) => err.stdout ?? String(err),
    );
    // Only what the package's own declarations cause is sasync's to answer for.
    const ours = checked.split('\n').filter((line) => line.includes('node_modules/sasync/'));
    expect(ours).toEqual([]);
  }, 120_000);

  it("loads no driver on import 'sasync', from an ES module or CommonJS (and says how long the import took)", async () => {
    const esm = await script(
      'import.mjs',
      `import { createRequire } from 'node:module';
const requireCache = createRequire(import.meta.url).cache;
const start = performance.now();
const sasync = await import('sasync');
const ms = performance.now() - start;
console.log(JSON.stringify({ ms, hasBroker: typeof sasync.AccessBroker, drivers: ${LOADED_DRIVERS} }));
`,
    );
    const cjs = await script(
      'import.cjs',
      `const requireCache = require.cache;
const start = performance.now();
const sasync = require('sasync');
const ms = performance.now() - start;
console.log(JSON.stringify({ ms, hasBroker: typeof sasync.AccessBroker, drivers: ${LOADED_DRIVERS} }));
`,
    );
    console.log(
      `import('sasync') took ${Math.round(esm[0]!.ms as number)} ms (ESM), require('sasync') ${Math.round(cjs[0]!.ms as number)} ms (CommonJS), TypeORM included`,
    );
    for (const [result] of [esm, cjs]) {
      expect(result).toMatchObject({ hasBroker: 'function', drivers: [] });
    }
  });
});
