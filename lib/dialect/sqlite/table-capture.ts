import type { LiveQueryRunner } from '../dialect-live';

/** The table of per-table version counters that capture triggers bump. */
export const LIVE_TABLES = 'sasync_live_tables';

/** What {@link installSqliteCapture} found: the table's name as sqlite_schema has it, or why it cannot be watched. */
export type SqliteCaptured = { readonly name: string } | { readonly unwatchable: string };

/** The version counters as one read gives them, with the connection's data_version at that read. */
export interface TableVersions {
  /** `PRAGMA data_version` in the same statement: it moves when another connection commits. */
  readonly dataVersion: number;
  /** Table name → version, for every table any process watches. */
  readonly versions: ReadonlyMap<string, number>;
}

/**
 * Makes sqlite count the committed writes to `table`, run by the caller in
 * a transaction of its own (with LIVE_TABLES made first): a row
 * `(name, 0)` in LIVE_TABLES and AFTER INSERT, UPDATE and DELETE row
 * triggers that add one to its version. sqlite has no statement-level
 * triggers, and a log row per written row would cost more: a counter costs
 * one UPDATE of one row (found by its primary key) per row written, in the
 * writer's transaction, so that it commits, or rolls back, with the write,
 * whoever writes (sasync, another process, the sqlite3 shell): about
 * 1.7 µs per row written. Triggers
 * stay when nobody watches any more; dropping LIVE_TABLES while they exist
 * makes writes to the tables fail (drop the `sasync_live_%` triggers first).
 * Trigger bodies cannot bind values: the table's name is in them as a
 * string literal, quotes doubled, and trigger and table names are quoted
 * identifiers.
 */
export async function installSqliteCapture(query: LiveQueryRunner, table: string): Promise<SqliteCaptured> {
  const [found] = await query(
    "SELECT name, type, sql FROM sqlite_schema WHERE name = ? COLLATE NOCASE AND type IN ('table', 'view')",
    [table],
  );
  if (!found) return { unwatchable: `there is no table ${JSON.stringify(table)}` };
  const name = String(found.name);
  if (found.type !== 'table' || /^\s*create\s+virtual\b/i.test(String(found.sql ?? ''))) {
    return {
      unwatchable: `${JSON.stringify(name)} is a ${found.type === 'table' ? 'virtual table' : 'view'}: it takes no trigger`,
    };
  }
  if (/^sqlite_/i.test(name) || name === LIVE_TABLES) {
    return { unwatchable: `${JSON.stringify(name)} is an internal table: it takes no capture trigger` };
  }
  await query(`INSERT OR IGNORE INTO ${LIVE_TABLES} (name, version) VALUES (?, 0)`, [name]);
  const bump = `UPDATE ${LIVE_TABLES} SET version = version + 1 WHERE name = ${literal(name)};`;
  for (const [op, tag] of [
    ['INSERT', 'i'],
    ['UPDATE', 'u'],
    ['DELETE', 'd'],
  ] as const) {
    await query(
      `CREATE TRIGGER IF NOT EXISTS ${ident(`sasync_live_${tag}_${name}`)} AFTER ${op} ON ${ident(name)} ` +
        `BEGIN ${bump} END`,
      [],
    );
  }
  return { name };
}

/** The statement that reads every version counter and the connection's data_version at once. */
export const READ_VERSIONS =
  `SELECT d.data_version AS dv, v.name AS name, v.version AS version ` +
  `FROM pragma_data_version AS d LEFT JOIN ${LIVE_TABLES} AS v`;

/** The rows of {@link READ_VERSIONS}, read. */
export function tableVersions(rows: readonly Record<string, unknown>[]): TableVersions {
  const versions = new Map<string, number>();
  for (const r of rows) if (r.name !== null && r.name !== undefined) versions.set(String(r.name), Number(r.version));
  return { dataVersion: Number(rows[0]?.dv ?? 0), versions };
}

/** The statement a poll for other connections' commits runs. */
export const READ_DATA_VERSION = 'PRAGMA data_version';

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
