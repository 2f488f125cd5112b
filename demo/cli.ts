import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { lastValueFrom } from 'rxjs';
import { AccessBroker } from '../lib';

export const DEFAULT_TARGET = 'sqlite:sasync-demo.db';

const HELP = `usage: npm run demo [-- --db TARGET]

A tour of sasync: a broker with tables, cold transactions, priorities,
nesting, savepoints and errors. Each run starts from empty tables.

  --db TARGET  the database (default ${DEFAULT_TARGET}, a file in the working
               directory), e.g. sqlite::memory: or
               postgres://postgres@127.0.0.1:5432/test
  -h, --help   show this help`;

/** The target from the command line; prints help or a one-line error and exits when needed. */
export function targetFromArgs(argv: string[]): string {
  let values: { db?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { db: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`demo: ${(err as Error).message} (try --help)`);
    process.exit(2);
  }
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  return values.db ?? DEFAULT_TARGET;
}

/** Empties the demo's database: deletes a sqlite file, or drops the demo tables elsewhere. */
export async function resetDatabase(target: string): Promise<void> {
  const file = target.startsWith('sqlite:') ? target.slice('sqlite:'.length).replace(/^\/\//, '') : undefined;
  if (file === ':memory:') return;
  if (file !== undefined) {
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path.resolve(file + suffix), { force: true });
    return;
  }
  // A plain broker does it; when it shuts down the DataSource closes, so the
  // demo's broker starts on a fresh one.
  const janitor = new AccessBroker(target, { name: 'janitor' });
  await lastValueFrom(janitor.query('DROP TABLE IF EXISTS entries, url'));
  await janitor.shutdown();
}
