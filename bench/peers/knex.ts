import knex, { type Knex } from 'knex';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { postgresPool } from './pool';

/** A Knex instance on pg with the same pool size as the others. */
export function openKnexDb(target: string): Knex {
  const { url, max } = postgresPool(target);
  return knex({ client: 'pg', connection: url, pool: { min: 0, max } });
}

/** Knex 3: `knex.transaction()`, the INSERT and SELECT built with its query builder. */
export const openKnex: OpenSubject = async ({ target, workload: w, table }) => {
  const db = openKnexDb(target);
  await db.raw(w.createTable(table));
  const run = (i: number) =>
    db.transaction(async (trx) => {
      const [name, n] = insertParams(i);
      const [inserted] = await trx(table).insert({ name, n }).returning<{ id: number }[]>('id');
      const rows: { id: number; name: string; n: number }[] = await trx(table)
        .select('id', 'name', 'n')
        .where('id', inserted!.id);
      return rows[0];
    });
  return {
    name: 'knex',
    run,
    close: dropThenClose(
      () => db.raw(w.dropTable(table)),
      () => db.destroy(),
    ),
  };
};
