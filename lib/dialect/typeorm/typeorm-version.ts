import fs from 'node:fs';
import path from 'node:path';
import { DatabaseError } from '../../errors';

/**
 * The TypeORM versions sasync works with, as its peer range says
 * (package.json: `typeorm ^0.3.12`): 0.3.12, the first with sqlite's
 * `busyTimeout`, or a later 0.3.
 */
const LOWEST_PATCH = 12;

/**
 * Why sasync cannot run on TypeORM `version`, or undefined when it can.
 * A version it cannot read (not `major.minor.patch`) is let through.
 */
export function typeormVersionProblem(version: string): string | undefined {
  const parts = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!parts) return undefined;
  const [major, minor, patch] = parts.slice(1).map(Number) as [number, number, number];
  if (major === 0 && minor === 3 && patch >= LOWEST_PATCH) return undefined;
  const newer = major > 0 || minor > 3;
  return (
    `sasync needs TypeORM 0.3 (0.3.${LOWEST_PATCH} or later), and the typeorm this app loads is ${version}` +
    (newer ? ', which sasync does not support yet' : '') +
    ': npm install typeorm@0.3'
  );
}

/**
 * The version of the `typeorm` package sasync loads, from its package.json
 * (found from the package's main file: TypeORM's `exports` do not export
 * `typeorm/package.json`); undefined if it cannot be read.
 */
export function loadedTypeormVersion(): string | undefined {
  let dir: string;
  try {
    dir = path.dirname(require.resolve('typeorm'));
  } catch {
    return undefined; // not installed: requiring it fails with Node's own error, which names it
  }
  for (let up = 0; up < 4; up++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'typeorm') return typeof pkg.version === 'string' ? pkg.version : undefined;
    } catch {
      // no package.json here: one level up
    }
  }
  return undefined;
}

/**
 * Refuses a TypeORM outside sasync's peer range, before any of sasync's
 * modules loads TypeORM's internals: npm only warns when an app installs
 * `typeorm` 1.x beside sasync, and sasync would then fail on a missing
 * TypeORM file, a message that says nothing of versions.
 * @throws DatabaseError naming the version found and the npm command.
 */
export function checkTypeormVersion(version: string | undefined = loadedTypeormVersion()): void {
  const problem = version === undefined ? undefined : typeormVersionProblem(version);
  if (problem !== undefined) throw new DatabaseError(problem);
}

checkTypeormVersion();
