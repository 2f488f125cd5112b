import { DataSource, type EntityManager } from 'typeorm';
import { resolveTarget } from '../../lib';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { serializer } from './serialize';

/**
 * TypeORM used directly: `dataSource.transaction()` on a DataSource made from
 * the same options sasync resolves the target to.
 *
 * On sqlite TypeORM has ONE connection and ONE shared QueryRunner:
 * overlapping `dataSource.transaction()` calls silently nest as SAVEPOINTs
 * (a later failure rolls back an earlier, already resolved transaction). A
 * correct user must serialize them, so on sqlite every transaction here goes
 * through a promise-chain mutex (in the 1-in-flight rows it never waits).
 */
export const openTypeorm: OpenSubject = async ({ target, workload: w, table }) => {
  const dataSource = new DataSource({ ...resolveTarget(target).options, logging: false });
  await dataSource.initialize();
  for (const sql of w.setup) await dataSource.query(sql);
  await dataSource.query(w.createTable(table));
  const insert = w.insert(table);
  const select = w.select(table);
  const work = async (tx: EntityManager, i: number) => {
    const id = w.typeormInsertedId(await tx.query(insert, insertParams(i)));
    const rows: { n: number }[] = await tx.query(select, [id]);
    return rows[0];
  };
  const transaction = (i: number) => dataSource.transaction((tx) => work(tx, i));
  const exclusive = serializer();
  return {
    name: 'typeorm',
    run: w.kind === 'sqlite' ? (i) => exclusive(() => transaction(i)) : transaction,
    close: dropThenClose(
      () => dataSource.query(w.dropTable(table)),
      () => dataSource.destroy(),
    ),
  };
};
