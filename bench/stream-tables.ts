import { createHash } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import type { Place } from './stream-subjects/types';
import { tableName } from './workload';

/** Rows of the small table every subject reads first, to warm up. */
const WARM_ROWS = 20_000;

/**
 * postgres: `(id int primary key, v text)` filled from generate_series, then
 * VACUUM ANALYZE (so that the first subject does not pay for setting hint bits).
 */
export const postgresPlace = (url: string, rows: number): Place => ({
  kind: 'postgres',
  target: url,
  raw: url,
  table: tableName('stream'),
  warmTable: tableName('stream_warm'),
  rows,
  warmRows: WARM_ROWS,
});

export async function fillPostgres(place: Place): Promise<void> {
  const client = new pg.Client({ connectionString: place.raw });
  await client.connect();
  try {
    for (const [table, n] of [[place.table, place.rows] as const, [place.warmTable, WARM_ROWS] as const]) {
      await client.query(`DROP TABLE IF EXISTS "${table}"`);
      await client.query(`CREATE TABLE "${table}" (id int PRIMARY KEY, v text NOT NULL)`);
      await client.query(`INSERT INTO "${table}" SELECT g, md5(g::text) FROM generate_series(1, ${n}) g`);
      await client.query(`VACUUM ANALYZE "${table}"`);
    }
  } finally {
    await client.end();
  }
}

export async function dropPostgres(place: Place): Promise<void> {
  const client = new pg.Client({ connectionString: place.raw });
  await client.connect();
  try {
    for (const table of [place.table, place.warmTable]) await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } finally {
    await client.end();
  }
}

/**
 * sqlite: a WAL file in `dir` with the same shape (`id INTEGER PRIMARY KEY`,
 * the rowid), the same md5 values, filled in one transaction with 500-row
 * INSERTs, then checkpointed.
 */
export function sqlitePlace(dir: string, rows: number): Place {
  const file = path.join(dir, 'stream.db');
  const [table, warmTable] = ['stream_rows', 'stream_warm'];
  return { kind: 'sqlite', target: `sqlite:${file}`, raw: file, table, warmTable, rows, warmRows: WARM_ROWS };
}

export async function fillSqlite(place: Place): Promise<void> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened = new sqlite3.Database(place.raw, (err) => (err ? reject(err) : resolve(opened)));
  });
  const run = (sql: string, params: unknown[] = []) =>
    new Promise<void>((resolve, reject) => db.run(sql, params, (err) => (err ? reject(err) : resolve())));
  try {
    await run('PRAGMA journal_mode = WAL');
    await run('BEGIN');
    for (const [table, n] of [[place.table, place.rows] as const, [place.warmTable, WARM_ROWS] as const]) {
      await run(`CREATE TABLE "${table}" (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`);
      for (let first = 1; first <= n; first += 500) {
        const ids = Array.from({ length: Math.min(500, n - first + 1) }, (_, i) => first + i);
        const values = ids.flatMap((id) => [id, createHash('md5').update(String(id)).digest('hex')]);
        await run(`INSERT INTO "${table}" (id, v) VALUES ${ids.map(() => '(?, ?)').join(', ')}`, values);
      }
    }
    await run('COMMIT');
    await run('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    await new Promise((resolve) => db.close(resolve));
  }
}
