import { lastValueFrom } from 'rxjs';
import { sasyncLib } from './sasync-lib';
import type { OpenSubject } from './subject';
import { insertParams } from './workload';

/** sasync: every transaction a cold Observable through the broker's queue. */
export const openSasync: OpenSubject = async ({ target, workload: w, table }) => {
  const { AccessBroker } = sasyncLib();
  const broker = new AccessBroker(target, { name: 'BenchBroker' });
  await broker.waitUntilRunning();
  await lastValueFrom(broker.query(w.createTable(table)));
  const insert = w.insert(table);
  const select = w.select(table);
  return {
    name: 'sasync',
    run: (i) =>
      lastValueFrom(
        broker.transact(async (tx) => {
          const id = w.typeormInsertedId(await tx.query(insert, insertParams(i)));
          const rows: { n: number }[] = await tx.query(select, [id]);
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
};
