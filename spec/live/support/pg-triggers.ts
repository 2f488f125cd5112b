import type { Client } from 'pg';

/** How many of sasync's capture triggers `table` has. */
export async function captureTriggers(client: Client, table: string): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname LIKE 'sasync_live_%'",
    [table],
  );
  return rows[0]!.n;
}

/** Whether a CREATE TRIGGER on `table` is waiting for a lock now. */
export async function triggerWaiting(client: Client, table: string): Promise<boolean> {
  const { rows } = await client.query(
    "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CREATE TRIGGER %' AND query LIKE $1",
    [`%${table}%`],
  );
  return rows.length > 0;
}
