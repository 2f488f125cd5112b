import type pg from 'pg';
import type Cursor from 'pg-cursor';
import type sqlite3 from 'sqlite3';
import { DatabaseError } from '../errors';

/** The driver packages sasync loads, as `require` returns them. */
export interface Drivers {
  readonly pg: typeof pg;
  readonly 'pg-cursor': typeof Cursor;
  readonly sqlite3: typeof sqlite3;
}

/** Who needs each package, for the message. */
export const NEEDED_BY: Record<keyof Drivers, string> = {
  pg: 'a postgres target',
  'pg-cursor': 'a postgres target (for row streams)',
  sqlite3: 'a sqlite target',
};

const loaded: Partial<Drivers> = {};

/**
 * The driver package `name`, loaded on first use and kept. sasync's peers
 * `pg`, `pg-cursor` and `sqlite3` are optional: `import 'sasync'` loads none
 * of them, and an app installs only those its targets need.
 * @throws DatabaseError naming the package and the npm command when it is
 *   not installed, or saying it is broken when it fails to load.
 */
export function loadDriver<N extends keyof Drivers>(name: N): Drivers[N] {
  const cached = loaded[name];
  if (cached !== undefined) return cached as Drivers[N];
  let driver: Drivers[N];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- at first use: no driver loads with sasync
    driver = require(name) as Drivers[N];
  } catch (err) {
    throw isMissing(err, name)
      ? notInstalled(name, err)
      : new DatabaseError(`${name} is installed but failed to load (${messageOf(err)}): reinstall it`, {
          cause: err,
        });
  }
  loaded[name] = driver;
  return driver;
}

export function notInstalled(name: keyof Drivers, cause: unknown): DatabaseError {
  return new DatabaseError(`${name} is not installed: npm install ${name} (${NEEDED_BY[name]} needs it)`, { cause });
}

/** The package itself is missing, not a module it requires (that is a broken install). */
function isMissing(err: unknown, name: string): boolean {
  const { code, message } = err as { code?: unknown; message?: unknown };
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${name}'`);
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0]! : String(err);
}
