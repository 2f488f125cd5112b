import pg from 'pg';
import Cursor from 'pg-cursor';
import sqlite3 from 'sqlite3';
import { BATCH_SIZE, type Place, type ReadResult, type StreamSubject } from './types';

type Row = { id: number; v: string };

function add(seen: ReadResult, rows: Row[]): void {
  if (seen.count === 0 && rows.length > 0) seen.firstRowAt = performance.now();
  for (const row of rows) {
    seen.count++;
    seen.sum += row.id;
  }
}

/** pg-cursor `read(500)` in a loop on one pg.Client. */
async function openPgCursor(url: string): Promise<StreamSubject> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return {
    async read(table) {
      const cursor = client.query(new Cursor<Row>(`SELECT * FROM "${table}"`));
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      for (let rows = await cursor.read(BATCH_SIZE); rows.length > 0; rows = await cursor.read(BATCH_SIZE))
        add(seen, rows);
      await cursor.close();
      return seen;
    },
    close: () => client.end(),
  };
}

/**
 * Keyset chunks on one sqlite3.Database (verbose mode never turned on), in a
 * read transaction as sasync's keyed stream reads them.
 */
async function openSqliteChunks(file: string): Promise<StreamSubject> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(opened)));
  });
  const all = (sql: string, params: unknown[] = []) =>
    new Promise<Row[]>((resolve, reject) =>
      db.all<Row>(sql, params, (err, rows) => (err ? reject(err) : resolve(rows))),
    );
  return {
    async read(table) {
      const sql = `SELECT * FROM "${table}" WHERE id > ? ORDER BY id LIMIT ${BATCH_SIZE}`;
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      await all('BEGIN');
      let last = 0;
      for (;;) {
        const rows = await all(sql, [last]);
        add(seen, rows);
        if (rows.length < BATCH_SIZE) break;
        last = rows[rows.length - 1]!.id;
      }
      await all('COMMIT');
      return seen;
    },
    close: () => new Promise((resolve, reject) => db.close((err) => (err ? reject(err) : resolve()))),
  };
}

export const openRawStream = (place: Place): Promise<StreamSubject> =>
  place.kind === 'postgres' ? openPgCursor(place.raw) : openSqliteChunks(place.raw);
