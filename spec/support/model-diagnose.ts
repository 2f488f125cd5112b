import { Client } from 'pg';

/**
 * What the postgres sessions of a hung program are doing, for its failure
 * message: each program names its sessions (`application_name`), so that
 * other tests' sessions on the shared server stay out of it.
 */
export async function pgActivity(url: string, applicationName: string): Promise<string> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const { rows } = await client.query<Record<string, unknown>>(
      `SELECT pid, application_name AS app, state, wait_event_type AS wait_type, wait_event AS wait,
              left(query, 100) AS query, now() - xact_start AS in_transaction
         FROM pg_stat_activity WHERE application_name = $1 OR application_name LIKE $1 || ':%' ORDER BY pid`,
      [applicationName],
    );
    return rows.map((r) => JSON.stringify(r)).join('\n') || '(no sessions)';
  } catch (error) {
    return `(pg_stat_activity unreadable: ${String(error)})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The pg clients of a DataSource's pool as node-postgres sees them (test
 * diagnostics only, reading pg's own fields): what each is running and what
 * waits behind it, e.g. a pg-cursor's state.
 */
export function pgClients(driver: unknown): string {
  try {
    const pool = (driver as { master?: { _clients?: unknown[] } }).master;
    return (pool?._clients ?? [])
      .map((c) => {
        const client = c as {
          processID?: number;
          readyForQuery?: boolean;
          queryQueue?: unknown[];
          activeQuery?: { constructor: { name: string }; state?: string; text?: string; _queue?: unknown[] } | null;
        };
        const active = client.activeQuery;
        const what = active
          ? `${active.constructor.name}(${active.state ?? ''}${active._queue ? `, ${active._queue.length} reads queued` : ''}) ${String(active.text ?? '').slice(0, 60)}`
          : 'none';
        return `pid ${client.processID}: readyForQuery ${client.readyForQuery}, active ${what}, queued ${client.queryQueue?.length ?? 0}`;
      })
      .join('\n');
  } catch (error) {
    return `(pg clients unreadable: ${String(error)})`;
  }
}
