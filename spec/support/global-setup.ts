import { Client } from 'pg';

export const DEFAULT_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Decides once per run whether the postgres suites run. With CI or
 * SASYNC_REQUIRE_PG set, an unreachable postgres fails the whole run; without,
 * the postgres suites are skipped and this says so loudly.
 */
export default async function globalSetup(): Promise<void> {
  const url = process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL;
  const required = Boolean(process.env.CI || process.env.SASYNC_REQUIRE_PG);
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    process.env.SASYNC_PG_AVAILABLE = '1';
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (required)
      throw new Error(`postgres is required (CI or SASYNC_REQUIRE_PG is set) but ${url} is unreachable: ${why}`);
    process.env.SASYNC_PG_AVAILABLE = '0';
    console.warn(
      `\n!!! POSTGRES SUITES SKIPPED: ${url} is unreachable (${why}). Set SASYNC_PG_URL or start postgres.\n`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
