import pg from 'pg';
import sqlite3 from 'sqlite3';

/** The sqlite library version node-sqlite3 was built with. */
export function sqliteVersion(): string {
  return `${sqlite3.VERSION} (node-sqlite3)`;
}

export type PostgresProbe =
  { readonly ok: true; readonly version: string } | { readonly ok: false; readonly reason: string };

/** Whether postgres answers at `url` within a few seconds, and its version. */
export async function probePostgres(url: string): Promise<PostgresProbe> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
    return { ok: true, version: rows[0]!.v };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message || err.name : String(err) };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops these tables if they exist (quoted names: they come from {@link tableName}). */
export async function dropTables(url: string, tables: readonly string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    for (const table of tables) await client.query(`DROP TABLE IF EXISTS "${table}"`);
  } catch (err) {
    console.error(`!! could not drop the benchmark tables ${tables.join(', ')}: ${String(err)}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}
