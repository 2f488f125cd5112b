import pg from 'pg';
import { resolveTarget } from '../../lib';
import type { OpenSubject } from '../subject';
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
  const run = async (i: number) => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const { rows: ids } = await client.query<{ id: number }>(insert, insertParams(i));
      const { rows } = await client.query<{ n: number }>(select, [ids[0]!.id]);
      await client.query('COMMIT');
      client.release();
      return rows[0];
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release(err as Error);
      throw err;
    }
  };
  return {
    name: 'raw',
    run,
    async close() {
      try {
        await pool.query(w.dropTable(table));
      } finally {
        await pool.end();
      }
    },
  };
};
