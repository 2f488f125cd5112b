import { openKnexDb } from '../peers/knex';
import { openKyselyDb } from '../peers/kysely';
import { openPostgresJs } from '../peers/postgresjs';
import { BATCH_SIZE, type Place, type ReadResult, type StreamPeer, type StreamSubject } from './types';

type Row = { id: number; v: string };

function take(seen: ReadResult, row: Row): void {
  if (seen.count++ === 0) seen.firstRowAt = performance.now();
  seen.sum += row.id;
}

/** Kysely 0.29: `selectFrom(t).selectAll().stream(500)` (pg-cursor underneath), `for await` over rows. */
function kysely(place: Place): StreamSubject {
  const db = openKyselyDb<Record<string, Row>>(place.target);
  return {
    async read(table) {
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      for await (const row of db.selectFrom(table).selectAll().stream(BATCH_SIZE)) take(seen, row);
      return seen;
    },
    close: () => db.destroy(),
  };
}

/** postgres.js 3.4: `` sql`SELECT * FROM t`.cursor(500) ``, `for await` over arrays of rows. */
function postgresJs(place: Place): StreamSubject {
  const sql = openPostgresJs(place.target);
  return {
    async read(table) {
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      for await (const rows of sql<Row[]>`SELECT * FROM ${sql(table)}`.cursor(BATCH_SIZE)) {
        for (const row of rows) take(seen, row);
      }
      return seen;
    },
    close: () => sql.end(),
  };
}

/** Knex 3: `knex(t).select('*').stream({ batchSize: 500 })` (needs pg-query-stream), `for await` over rows. */
function knex(place: Place): StreamSubject {
  const db = openKnexDb(place.target);
  return {
    async read(table) {
      const seen: ReadResult = { count: 0, sum: 0, firstRowAt: 0 };
      for await (const row of db(table).select('*').stream({ batchSize: BATCH_SIZE })) take(seen, row as Row);
      return seen;
    },
    close: () => db.destroy(),
  };
}

const OPEN: Record<StreamPeer, (place: Place) => StreamSubject> = { kysely, postgresjs: postgresJs, knex };

export const openPeerStream = async (place: Place, peer: StreamPeer): Promise<StreamSubject> => OPEN[peer](place);

/** Whether Knex can stream here: its pg client needs the pg-query-stream package (a devDependency here). */
export function knexCanStream(): boolean {
  try {
    require.resolve('pg-query-stream');
    return true;
  } catch {
    return false;
  }
}
