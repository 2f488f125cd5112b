import postgres from 'postgres';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';
import { postgresPool } from './pool';

/** A postgres.js client with the same pool size as the others (and its defaults: prepared statements on). */
export function openPostgresJs(target: string): postgres.Sql {
  const { url, max } = postgresPool(target);
  return postgres(url, { max, onnotice: () => undefined });
}

/** postgres.js 3.4: `sql.begin()`, tagged-template statements. */
export const openPostgresJsSubject: OpenSubject = async ({ target, workload: w, table }) => {
  const sql = openPostgresJs(target);
  await sql.unsafe(w.createTable(table));
  const run = (i: number) =>
    sql.begin(async (tx) => {
      const [name, n] = insertParams(i);
      const [inserted] = await tx<{ id: number }[]>`INSERT INTO ${tx(table)} ${tx({ name, n })} RETURNING id`;
      const rows = await tx<{ id: number; name: string; n: number }[]>`
        SELECT id, name, n FROM ${tx(table)} WHERE id = ${inserted!.id}`;
      return rows[0];
    });
  return {
    name: 'postgresjs',
    run,
    close: dropThenClose(
      () => sql.unsafe(w.dropTable(table)),
      () => sql.end(),
    ),
  };
};
