import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { loadedTypeormVersion, typeormVersionProblem } from '../../lib/dialect/typeorm/typeorm-version';

const ROOT = path.join(__dirname, '..', '..');

/**
 * Imports lib/ (through tsx) in a child whose `require('typeorm')` finds a
 * typeorm package of `version` (its main file only: what sasync reads of it
 * is its package.json; the rest of TypeORM resolves as usual). The outcome,
 * as the child printed it.
 */
async function importWithTypeorm(version: string): Promise<Record<string, unknown>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-typeorm-version-'));
  try {
    const typeorm = path.join(dir, 'node_modules', 'typeorm');
    fs.mkdirSync(typeorm, { recursive: true });
    fs.writeFileSync(
      path.join(typeorm, 'package.json'),
      JSON.stringify({ name: 'typeorm', version, main: 'index.js' }),
    );
    fs.writeFileSync(
      path.join(typeorm, 'index.js'),
      `module.exports = require(${JSON.stringify(require.resolve('typeorm'))});`,
    );
    const script = `
const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'typeorm' ? ${JSON.stringify(path.join(typeorm, 'index.js'))} : resolve.call(this, request, ...rest);
};
let outcome;
try {
  const lib = require('./lib');
  outcome = { imported: typeof lib.AccessBroker };
} catch (e) {
  outcome = { name: e.name, isDatabaseError: e instanceof require('./lib/errors').DatabaseError, message: e.message };
}
console.log(JSON.stringify(outcome));
`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: ROOT,
      timeout: 60_000,
    });
    return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('the TypeORM version sasync loads', () => {
  it('is read from the typeorm package sasync resolves (the one this repository runs on)', () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', 'typeorm', 'package.json'), 'utf8'));
    expect(loadedTypeormVersion()).toBe(version);
  });

  it.each(['0.3.12', '0.3.17', '0.3.31', '0.3.32-dev.1a2b3c4', 'not.a.version'])('%s is accepted', (version) => {
    expect(typeormVersionProblem(version)).toBeUndefined();
  });

  it.each([
    ['1.1.1', ', which sasync does not support yet'],
    ['0.4.0', ', which sasync does not support yet'],
    ['0.3.11', ''],
    ['0.2.45', ''],
  ])('%s is refused, naming it and the npm command', (version, newer) => {
    expect(typeormVersionProblem(version)).toBe(
      `sasync needs TypeORM 0.3 (0.3.12 or later), and the typeorm this app loads is ${version}${newer}: ` +
        'npm install typeorm@0.3',
    );
  });

  // The issue: `npm install typeorm` beside sasync brings 1.x with only a warning from npm, and sasync then
  // failed on a TypeORM file 1.x does not have, a message that said nothing of versions.
  it("import 'sasync' with TypeORM 1.x fails at once with a DatabaseError naming the version and npm install typeorm@0.3", async () => {
    expect(await importWithTypeorm('1.1.1')).toEqual({
      name: 'DatabaseError',
      isDatabaseError: true,
      message:
        'sasync needs TypeORM 0.3 (0.3.12 or later), and the typeorm this app loads is 1.1.1, which sasync does ' +
        'not support yet: npm install typeorm@0.3',
    });
  }, 60_000);

  it("import 'sasync' with a TypeORM of the peer range imports it", async () => {
    expect(await importWithTypeorm('0.3.31')).toEqual({ imported: 'function' });
  }, 60_000);
});
