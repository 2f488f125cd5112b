import pg from 'pg';
import { median } from './stats';

/** Round trips of `SELECT 1` on one connection: the median and the 10th–90th percentiles, in ms. */
export interface RoundTrip {
  readonly medianMs: number;
  readonly p10Ms: number;
  readonly p90Ms: number;
}

/** Times `count` `SELECT 1` round trips one after another (after 20 unmeasured ones) on one pg.Client. */
export async function measureRoundTrip(url: string, count = 200): Promise<RoundTrip> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const times: number[] = [];
    for (let i = 0; i < count + 20; i++) {
      const start = performance.now();
      const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
      if (rows[0]?.one !== 1) throw new Error(`SELECT 1 gave ${JSON.stringify(rows)}`);
      if (i >= 20) times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))]!;
    return { medianMs: median(times), p10Ms: at(0.1), p90Ms: at(0.9) };
  } finally {
    await client.end();
  }
}
