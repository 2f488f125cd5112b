/**
 * One process of the cache stampede bench (bench/cache.ts). Args: target,
 * group. Prints "ready", waits for "go" on stdin, runs 1,000 concurrent
 * getOrCreate of one expired key, and prints a JSON line: creator calls,
 * statements sent through the DataSource, advisory lock statements.
 */
import { createInterface } from 'node:readline';
import type { DataSourceOptions, Logger } from 'typeorm';
import { CacheRegion, PersistentBackend, resolveTarget } from '../lib';
import { postgresDialect } from '../lib/dialect/postgres/dialect';

const [url, group] = process.argv.slice(2) as [string, string];

let statements = 0;
let counting = false;
const logger: Logger = {
  logQuery: () => void (counting && statements++),
  logQueryError: () => undefined,
  logQuerySlow: () => undefined,
  logSchemaBuild: () => undefined,
  logMigration: () => undefined,
  log: () => undefined,
};
const target = { ...resolveTarget(url).options, logging: true, logger } as DataSourceOptions;

// The advisory lock session sends its statements on a connection of its own: count them too.
let lockStatements = 0;
const open = postgresDialect.openAdvisoryLocks!;
(postgresDialect as { openAdvisoryLocks: typeof open }).openAdvisoryLocks = (ds) => {
  const session = open(ds);
  return {
    tryLock: (name) => (counting && lockStatements++, session.tryLock(name)),
    unlock: (name) => (counting && lockStatements++, session.unlock(name)),
    close: () => session.close(),
  };
};

async function main(): Promise<void> {
  const region = new CacheRegion<unknown>({
    backend: new PersistentBackend(target, { group }),
    expiration: 60_000,
    grace: 0,
  });
  await region.get('report');
  console.log('ready');
  const input = createInterface({ input: process.stdin });
  await new Promise<void>((resolve) => input.once('line', () => resolve()));
  input.close();
  process.stdin.destroy();
  let creatorCalls = 0;
  counting = true;
  await Promise.all(
    Array.from({ length: 1000 }, () =>
      region.getOrCreate('report', async () => {
        creatorCalls++;
        return { by: process.pid };
      }),
    ),
  );
  counting = false;
  console.log(JSON.stringify({ creatorCalls, statements, lockStatements }));
  await region.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
