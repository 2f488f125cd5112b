/**
 * Socket writes per postgres transaction, for each transaction subject
 * (`npx tsx bench/socket-writes.ts [--lib=dist/lib]`): a write is a call of
 * a socket's `_write` (one chunk) or `_writev` (the chunks held while it was
 * corked), a system call each and a wake-up of the server's backend.
 * Counted over 4,000 transactions after 4,000 to warm up, 1 and 8 in
 * flight, each subject in this process in turn (the count does not depend on
 * timing). Postgres at SASYNC_PG_URL.
 */
import { parseArgs } from 'node:util';
import { OPENERS } from './openers';
import { countSocketWrites } from './socket-write-count';
import { DEFAULT_PG_URL } from './options';
import { LIB_ENV } from './sasync-lib';
import type { OpenSubject } from './subject';
import { postgresWorkload, tableName } from './workload';

const SUBJECTS: Record<string, OpenSubject> = {
  sasync: OPENERS.postgres.sasync!,
  'sasync commitWith': OPENERS.postgres.commitWith!,
  'pg pipelined': OPENERS.postgres.pipelined!,
  'raw pg': OPENERS.postgres.raw!,
};
const COUNT = 4000;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { lib: { type: 'string' } } });
  if (values.lib !== undefined) process.env[LIB_ENV] = values.lib;
  const target = process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL;
  const writes = countSocketWrites();
  const rows: { subject: string; 'in flight': number; 'writes/tx': string }[] = [];
  for (const [name, open] of Object.entries(SUBJECTS)) {
    for (const inFlight of [1, 8]) {
      const subject = await open({ target, workload: postgresWorkload, table: tableName(`writes_${inFlight}`) });
      try {
        let next = 0;
        const runAll = () =>
          Promise.all(
            Array.from({ length: inFlight }, async () => {
              while (next < COUNT) await subject.run(next++);
            }),
          );
        await runAll();
        next = 0;
        writes.reset();
        await runAll();
        rows.push({ subject: name, 'in flight': inFlight, 'writes/tx': (writes.count() / COUNT).toFixed(2) });
      } finally {
        await subject.close();
      }
    }
  }
  console.table(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
