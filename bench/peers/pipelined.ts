import pg from 'pg';
import { type OpenSubject, dropThenClose } from '../subject';
import { onPooledClient } from '../baselines/raw-postgres';
import { insertParams } from '../workload';
import { postgresPool } from './pool';

/**
 * pg 8.23's pipeline mode (`new pg.Pool({ pipeline: true })`: each client
 * writes a query without waiting for the answer to the one before). The
 * SELECT needs the INSERT's id, so a transaction is two round trips instead
 * of four: BEGIN + INSERT … RETURNING, then SELECT + COMMIT. A failed
 * statement aborts the transaction, and the pipelined COMMIT then answers
 * ROLLBACK: the command tag is checked.
 */
export const openPipelined: OpenSubject = async ({ target, workload: w, table }) => {
  const { url, max } = postgresPool(target);
  const pool = new pg.Pool({ connectionString: url, max, pipeline: true } as pg.PoolConfig);
  await pool.query(w.createTable(table));
  const insert = w.insert(table);
  const select = w.select(table);
  const run = (i: number) =>
    onPooledClient(pool, async (client) => {
      const [, { rows: ids }] = await Promise.all([
        client.query('BEGIN'),
        client.query<{ id: number }>(insert, insertParams(i)),
      ]);
      const [{ rows }, commit] = await Promise.all([
        client.query<{ n: number }>(select, [ids[0]!.id]),
        client.query('COMMIT'),
      ]);
      if (commit.command !== 'COMMIT') throw new Error(`COMMIT answered ${commit.command}`);
      return rows[0];
    });
  return {
    name: 'pipelined',
    run,
    close: dropThenClose(
      () => pool.query(w.dropTable(table)),
      () => pool.end(),
    ),
  };
};
