import { lastValueFrom } from 'rxjs';
import { sasyncLib } from './sasync-lib';
import type { OpenSubject } from './subject';
import { insertParams } from './workload';

/** sasync: every transaction a cold Observable through the broker's queue. */
export const openSasync: OpenSubject = (spec) => open(spec, false);

/** sasync, its SELECT sent with COMMIT (commitWith()): the same transaction, one round trip fewer on postgres. */
export const openSasyncCommitWith: OpenSubject = (spec) => open(spec, true);

async function open({ target, workload: w, table }: Parameters<OpenSubject>[0], last: boolean) {
  const { AccessBroker, commitWith } = sasyncLib();
  const broker = new AccessBroker(target, { name: 'BenchBroker' });
  await broker.waitUntilRunning();
  for (const sql of w.setup) await lastValueFrom(broker.query(sql));
  await lastValueFrom(broker.query(w.createTable(table)));
  const insert = w.insert(table);
  const select = w.select(table);
  return {
    name: last ? ('commitWith' as const) : ('sasync' as const),
    run: (i: number) =>
      lastValueFrom(
        broker.transact(async (tx) => {
          const id = w.typeormInsertedId(await tx.query(insert, insertParams(i)));
          const rows: { n: number }[] = last ? await commitWith(tx, select, [id]) : await tx.query(select, [id]);
          return rows[0];
        }),
      ),
    async close() {
      try {
        await lastValueFrom(broker.query(w.dropTable(table)));
      } finally {
        await broker.shutdown();
      }
    },
  };
}
