import pg from 'pg';
import { resolveTarget } from '../../lib';
import { type OpenSubject, dropThenClose } from '../subject';
import { insertParams } from '../workload';

/** TypeORM's default pool size, which sasync and the TypeORM baseline get too. */
export const TYPEORM_DEFAULT_POOL = 10;

/** The pg driver alone: a pooled client per transaction, BEGIN / INSERT / SELECT / COMMIT. */
export const openRawPostgres: OpenSubject = async ({ target, workload: w, table }) => {
  const { url, poolSize } = resolveTarget(target).options as { url: string; poolSize?: number };
  const pool = new pg.Pool({ connectionString: url, max: poolSize ?? TYPEORM_DEFAULT_POOL });
  await pool.query(w.createTable(table));
  const insert = w.insert(table);
  const select = w.select(table);
  const run = (i: number) =>
    onPooledClient(pool, async (client) => {
      await client.query('BEGIN');
      const { rows: ids } = await client.query<{ id: number }>(insert, insertParams(i));
      const { rows } = await client.query<{ n: number }>(select, [ids[0]!.id]);
      await client.query('COMMIT');
      return rows[0];
    });
  return {
    name: 'raw',
    run,
    close: dropThenClose(
      () => pool.query(w.dropTable(table)),
      () => pool.end(),
    ),
  };
};

/**
 * Runs a transaction's `work` on a client checked out of `pool`: given back
 * after it; after a failure rolled back and discarded (never pooled again).
 */
export async function onPooledClient<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    const result = await work(client);
    client.release();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(err as Error);
    throw err;
  }
}
