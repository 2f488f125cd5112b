import { Kysely, PostgresDialect, sql, type Generated } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { postgresPool } from './pool';

/** The benchmarked table, as Kysely types it (any table name: each subject has its own). */
export type BenchDb = Record<string, { id: Generated<number>; name: string; n: number }>;

/** A Kysely instance on pg with the same pool size as the others, and pg-cursor for `.stream()`. */
export function openKyselyDb<DB = BenchDb>(target: string): Kysely<DB> {
  const { url, max } = postgresPool(target);
  return new Kysely<DB>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max }), cursor: Cursor }),
  });
}

/** Kysely 0.29: `db.transaction().execute()`, the INSERT and SELECT built with its query builder. */
export const openKysely: OpenSubject = async ({ target, workload: w, table }) => {
  const db = openKyselyDb(target);
  await sql.raw(w.createTable(table)).execute(db);
  const run = (i: number) =>
    db.transaction().execute(async (trx) => {
      const [name, n] = insertParams(i);
      const { id } = await trx.insertInto(table).values({ name, n }).returning('id').executeTakeFirstOrThrow();
      const rows = await trx.selectFrom(table).select(['id', 'name', 'n']).where('id', '=', id).execute();
      return rows[0];
    });
  return {
    name: 'kysely',
    run,
    close: dropThenClose(
      () => sql.raw(w.dropTable(table)).execute(db),
      () => db.destroy(),
    ),
  };
};
