import { lastValueFrom, type Observable } from 'rxjs';
import { sasyncLib } from '../sasync-lib';
import type { Place, PrepareResult } from './types';

type Row = { id: number; v: string };
/** `broker.prepare()` as issue 3 describes it (it may be missing from the build under test). */
type Prepare = (name: string, sql: string) => { query(params?: unknown[]): Observable<Row[]> };

/**
 * 10,000 selects by id, one at a time: `prepared.query([id])` against
 * `broker.query(sql, [id])`, in interleaved rounds after a warm-up of each.
 */
export async function benchPrepare(place: Place, count: number, rounds: number): Promise<PrepareResult> {
  const { AccessBroker } = sasyncLib();
  const broker = new AccessBroker(place.target, { name: 'PrepareBench' });
  try {
    await broker.waitUntilRunning();
    const prepare = (broker as unknown as { prepare?: Prepare }).prepare;
    if (typeof prepare !== 'function') return undefined;
    const sql = `SELECT * FROM "${place.table}" WHERE id = ${place.kind === 'postgres' ? '$1' : '?'}`;
    const prepared = prepare.call(broker, 'by_id', sql);
    const ways = {
      query: (id: number) => lastValueFrom(broker.query<Row>(sql, [id])),
      prepared: (id: number) => lastValueFrom(prepared.query([id])),
    };
    const time = async (select: (id: number) => Promise<Row[]>, n: number): Promise<number> => {
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        const id = ((i * 7919) % place.rows) + 1;
        const rows = await select(id);
        if (rows.length !== 1 || rows[0]!.id !== id) throw new Error(`select ${id} gave ${JSON.stringify(rows)}`);
      }
      return n / ((performance.now() - start) / 1000);
    };
    await time(ways.query, count / 10);
    await time(ways.prepared, count / 10);
    const result: { query: number; prepared: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      // The order alternates, so that neither always runs on a warmer cache.
      const first = round % 2 === 0 ? 'query' : 'prepared';
      const second = first === 'query' ? 'prepared' : 'query';
      const a = await time(ways[first], count);
      const b = await time(ways[second], count);
      result.push(first === 'query' ? { query: a, prepared: b } : { query: b, prepared: a });
    }
    return result;
  } finally {
    await broker.shutdown();
  }
}
