import type { QueryRunner } from 'typeorm';
import type { RowSource } from '../../rows/row-source';
import type { CursorQuery } from '../dialect';
import { sqliteChunkSource } from './chunk-source';
import type { SqliteQuery, SqliteStep } from './sql-calls';

/**
 * A stream outside a transaction on sqlite in memory, which has one
 * connection: the stream holds the transaction slot and reads on that
 * connection, with `PRAGMA query_only` on while it is open, so that it only
 * reads. Its temporary copy is made and dropped with query_only briefly off
 * (the copy's `CREATE TABLE … AS` admits nothing but a SELECT). The setting the
 * connection had is restored on close, which the stream calls on every exit.
 */
export async function openQueryOnlyCursor<T>(
  runner: QueryRunner,
  query: CursorQuery,
  step: SqliteStep,
): Promise<RowSource<T>> {
  const run: SqliteQuery = (sql, parameters) => runner.query(sql, parameters) as Promise<Record<string, unknown>[]>;
  const [setting] = await run('PRAGMA query_only', []);
  const restore = `PRAGMA query_only = ${setting?.query_only ? 'ON' : 'OFF'}`;
  const readOnly = () => run('PRAGMA query_only = ON', []);
  await readOnly();
  const writeTemp: SqliteQuery = async (sql, parameters) => {
    await run('PRAGMA query_only = OFF', []);
    try {
      return await run(sql, parameters);
    } finally {
      await readOnly();
    }
  };
  // A statement run by itself might have been a BEGIN or a SAVEPOINT: no
  // transaction is open on the connection while the stream holds its slot,
  // so ROLLBACK ends whatever it started.
  const checkedStep: SqliteStep = async (sql, parameters) => {
    try {
      await step(sql, parameters);
    } finally {
      await run('ROLLBACK', []).catch(() => undefined);
    }
  };
  const source = sqliteChunkSource<T>(
    { query: run, writeTemp, step: checkedStep },
    query.sql,
    query.parameters,
    query.key,
    () =>
      run(restore, []).then(
        () => undefined,
        () => undefined,
      ),
  );
  return source;
}
