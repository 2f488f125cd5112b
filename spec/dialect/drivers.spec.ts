import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PG_URL, pgAvailable } from '../support/targets';

const ROOT = path.join(__dirname, '..', '..');
const pgIt = pgAvailable ? it : it.skip;

/**
 * Run first in each child: require() of a package named in HIDE fails as it
 * does when the package is not installed, by its name or by a path into
 * node_modules (TypeORM's fallback looks in the working directory's).
 * `drivers()` lists the driver packages loaded so far.
 */
const PRELUDE = `
const Module = require('node:module');
const hidden = new Set(JSON.parse(process.env.HIDE || '[]'));
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.has(request.replace(/^.*[\\\\/]node_modules[\\\\/]/, ''))) {
    throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
const drivers = () => [...new Set(Object.keys(require.cache)
  .map((file) => /[\\\\/]node_modules[\\\\/](pg|pg-cursor|pg-pool|sqlite3)[\\\\/]/.exec(file)?.[1])
  .filter(Boolean))].sort();
const { lastValueFrom } = require('rxjs');
const lib = require('./lib');
const failure = (fn) => { try { fn(); return undefined; } catch (e) {
  return { name: e.constructor.name, isDatabaseError: e instanceof lib.DatabaseError, message: e.message, cause: e.cause?.name };
} };
const one = async (broker) => (await lastValueFrom(broker.query('SELECT 1 AS one')))[0];
const print = (value) => console.log(JSON.stringify(value));
`;

/** Runs `script` after the prelude in a child process on lib/ (through tsx); its last line of output, parsed. */
async function child(script: string, hide: readonly string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `${PRELUDE}(async () => {${script}})().catch((e) => { console.error(e); process.exit(1); });`,
    ],
    { cwd: ROOT, env: { ...process.env, HIDE: JSON.stringify(hide), PG_URL }, timeout: 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

const notInstalled = (name: string, needs: string) => ({
  name: 'DatabaseError',
  isDatabaseError: true,
  message: `${name} is not installed: npm install ${name} (${needs} needs it)`,
});

describe('drivers are loaded when a target needs them', () => {
  it('importing sasync loads no driver; a sqlite broker loads sqlite3 only', async () => {
    const out = await child(`
      const imported = drivers();
      const broker = new lib.AccessBroker('sqlite::memory:');
      await broker.shutdown();
      print({ imported, sqlite: drivers() });
    `);
    expect(out).toEqual({ imported: [], sqlite: ['sqlite3'] });
  }, 60_000);

  pgIt(
    'a postgres broker loads pg and pg-cursor, not sqlite3',
    async () => {
      const out = await child(`
      const broker = new lib.AccessBroker(process.env.PG_URL);
      await broker.shutdown();
      print({ postgres: drivers() });
    `);
      expect(out).toEqual({ postgres: ['pg', 'pg-cursor', 'pg-pool'] });
    },
    60_000,
  );
});

describe('a driver that is not installed', () => {
  pgIt(
    'sqlite3: a sqlite broker fails at once, naming the package; a postgres broker keeps working',
    async () => {
      const out = await child(
        `
      const pg = new lib.AccessBroker(process.env.PG_URL);
      const first = one(pg);
      const url = failure(() => new lib.AccessBroker('sqlite::memory:'));
      const options = failure(() => new lib.AccessBroker({ type: 'sqlite', database: ':memory:' }));
      const rows = [await first, await one(pg)];
      await pg.shutdown();
      print({ url, options, rows });
    `,
        ['sqlite3'],
      );
      const error = { ...notInstalled('sqlite3', 'a sqlite target'), cause: 'Error' };
      expect(out).toEqual({ url: error, options: error, rows: [{ one: 1 }, { one: 1 }] });
    },
    60_000,
  );

  it.each([
    ['pg', 'a postgres target'],
    ['pg-cursor', 'a postgres target (for row streams)'],
  ])(
    '%s: a postgres broker fails at once, naming the package; a sqlite broker keeps working',
    async (name, needs) => {
      const out = await child(
        `
      const sqlite = new lib.AccessBroker('sqlite::memory:');
      const error = failure(() => new lib.AccessBroker(process.env.PG_URL));
      const again = failure(() => new lib.AccessBroker(process.env.PG_URL));
      const row = await one(sqlite);
      await sqlite.shutdown();
      print({ error, again, row });
    `,
        [name],
      );
      const error = { ...notInstalled(name, needs), cause: 'Error' };
      expect(out).toEqual({ error, again: error, row: { one: 1 } });
    },
    60_000,
  );

  it("pg: TypeORM's own report of it becomes the same error", async () => {
    const out = await child(
      `
      const { newDataSource } = require('./lib/dialect');
      print({ error: failure(() => newDataSource({ type: 'postgres', url: process.env.PG_URL })) });
    `,
      ['pg'],
    );
    expect(out).toEqual({
      error: { ...notInstalled('pg', 'a postgres target'), cause: 'DriverPackageNotInstalledError' },
    });
  }, 60_000);
});
