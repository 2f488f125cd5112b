import { createHash } from 'node:crypto';
import { array } from '../array-parameter';
import type { LiveQueryRunner, TableRef } from '../dialect-live';
import { driverErrorCode } from '../driver-error';
import { DDL_LOCK_KEY } from './ddl';

/** The trigger function every captured table's trigger calls, in the change log's schema. */
export const CAPTURE_FUNCTION = 'sasync_live_capture';

/** The transaction-local setting that keeps a transaction to one log entry per captured table. */
const LOGGED = 'sasync.live_logged';

/**
 * How long one try at installing the capture waits for each lock
 * (`lock_timeout`): sasync's DDL lock, then each trigger's table. A CREATE
 * TRIGGER waits for the writes under way on its table, and every write that
 * comes after it waits behind it in the table's lock queue: a try gives up
 * (SQLSTATE 55P03, see {@link captureMayRetry}) rather than hold the
 * table's writers back for as long as some transaction stays open, and the
 * caller tries again later. The wait is this long, or half a second past
 * the server's `deadlock_timeout` where that is longer: only once a lock
 * wait reaches deadlock_timeout does postgres cancel an autovacuum that
 * holds the table, and a wait that gave up at the same moment would never
 * get past one.
 */
export const CAPTURE_LOCK_WAIT_MS = 1000;
/** How far past `deadlock_timeout` a lock wait of the install goes on (see CAPTURE_LOCK_WAIT_MS). */
const PAST_DEADLOCK_TIMEOUT_MS = 500;

/**
 * Whether an install that failed may be tried again: a lock it needed was
 * held past its wait (55P03, see {@link CAPTURE_LOCK_WAIT_MS}), or a table
 * of the tree was dropped between the install's read of the tree and its
 * trigger (42P01).
 */
export function captureMayRetry(error: unknown): boolean {
  const code = driverErrorCode(error);
  return code === '55P03' || code === '42P01';
}

/** Where a captured table's changes go: the change log table (as readers find it) and its wake-up channel. */
export interface PgCaptureLog {
  /** The change log table's name (`sasync_changes`), found through the search_path as the readers find it. */
  readonly table: string;
  /** The wake-up channel readers LISTEN on (see storeChannel). */
  readonly channel: string;
  /** The `kind` of the entries the trigger appends: one no store table can have. */
  readonly kind: string;
}

/**
 * What {@link installPgCapture} found: the log groups whose entries say the
 * table changed and the trigger's name, or why it cannot be watched.
 */
export type PgCaptured =
  { readonly groups: readonly string[]; readonly trigger: string } | { readonly unwatchable: string };

/**
 * The tables of each given table's partition tree (itself, its ancestors
 * and descendants), one row per table of a tree with `i` (the given
 * table's place in $1/$2, from 1), its group and whether it has the
 * trigger named $4. $1 are the names, $2 the schemas (null: the
 * search_path's), $3 is '.'. A name that is no table has no row. Read
 * from pg_inherits and pg_class alone, so that it takes no lock on the
 * tables (pg_partition_tree() would take one on every partition, and wait
 * behind an ALTER or a TRUNCATE of any of them). A table of the tree may
 * then be dropped before the install makes its trigger: see
 * {@link captureMayRetry}.
 */
/**
 * The SQL for the table named by the expressions `name` and `schema` (a
 * null schema: the search_path's), each part quoted as an identifier, $3
 * being '.'; null when there is none.
 */
function regclassOf(name: string, schema: string): string {
  return `to_regclass(CASE WHEN ${schema} IS NULL THEN quote_ident(${name}) ELSE quote_ident(${schema}) || $3 || quote_ident(${name}) END)`;
}

/**
 * A pg_inherits row `h` that is not a partition being detached
 * concurrently (postgres 14+ has `inhdetachpending`; read through jsonb so
 * that the statement runs on 12 and 13 too): pg_partition_tree() and
 * pg_partition_ancestors() leave those out.
 */
const ATTACHED = "NOT coalesce((to_jsonb(h) ->> 'inhdetachpending')::boolean, false)";

const RELATIVES =
  `WITH RECURSIVE w AS (SELECT u.i, ${regclassOf('u.n', 'u.s')} AS oid ` +
  'FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(n, s, i)), ' +
  'down(i, relid) AS (SELECT w.i, w.oid FROM w WHERE w.oid IS NOT NULL UNION ' +
  'SELECT d.i, h.inhrelid FROM down d JOIN pg_inherits h ON h.inhparent = d.relid ' +
  `JOIN pg_class c ON c.oid = h.inhrelid WHERE c.relispartition AND ${ATTACHED}), ` +
  'up(i, relid) AS (SELECT w.i, w.oid FROM w WHERE w.oid IS NOT NULL UNION ' +
  'SELECT u.i, h.inhparent FROM up u JOIN pg_class c ON c.oid = u.relid AND c.relispartition ' +
  `JOIN pg_inherits h ON h.inhrelid = u.relid WHERE ${ATTACHED}), ` +
  'x AS (SELECT i, relid FROM down UNION SELECT i, relid FROM up) ' +
  'SELECT x.i::int AS i, r.oid::text AS oid, quote_ident(n.nspname) || $3 || quote_ident(r.relname) AS grp, ' +
  'EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = r.oid AND g.tgname = $4) AS has ' +
  'FROM x JOIN pg_class r ON r.oid = x.relid JOIN pg_namespace n ON n.oid = r.relnamespace ' +
  "WHERE r.relkind IN ('r', 'p') ORDER BY 1, 2";

/** One table of a partition tree, as RELATIVES reads it. */
interface Relative {
  readonly oid: string;
  readonly grp: string;
  readonly has: boolean;
}

/** RELATIVES for `tables`, by their index in it. */
async function relativesOf(
  query: LiveQueryRunner,
  tables: readonly TableRef[],
  trigger: string,
): Promise<Map<number, Relative[]>> {
  const rows = await query(RELATIVES, [
    array(tables.map((t) => t.name)),
    array(tables.map((t) => t.schema ?? null)),
    '.',
    trigger,
  ]);
  const trees = new Map<number, Relative[]>();
  for (const r of rows) {
    const i = Number(r.i) - 1;
    const tree = trees.get(i) ?? [];
    tree.push({ oid: String(r.oid), grp: String(r.grp), has: Boolean(r.has) });
    trees.set(i, tree);
  }
  return trees;
}

/**
 * Makes a statement-level trigger report every committed write to `table`
 * in the change log, run by the caller in a transaction of its own:
 * under the DDL advisory lock (processes starting at once do not both
 * create it), the trigger function is made (or replaced, when its body is
 * not this version's) in the change log's schema, and a trigger
 * `AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE … FOR EACH STATEMENT` is
 * put on the table where it is missing. A partition's writes through its
 * parent fire the parent's statement triggers only, and a parent's do not
 * fire its partitions' when a partition is written directly: the trigger
 * goes on every table of the partition tree above and below it too, and
 * each is a group whose entries mean the table may have changed. (A
 * partition created or attached later has none: the watcher looks at the
 * tree again from time to time, see {@link checkPgCaptures}.)
 *
 * The function appends one entry per transaction per table (a
 * transaction-local setting remembers the tables logged; a savepoint rolled
 * back takes back both its entry and the setting, so the next write logs
 * again), with the transaction's id as store writes have it, and sends a
 * payload-free NOTIFY on the log's channel (delivered on COMMIT, one per
 * transaction). It runs as its owner (SECURITY DEFINER, with a fixed
 * search_path), so that a role that may write the table need not be
 * allowed to write the log; with the log table gone it appends nothing
 * rather than failing the write.
 *
 * What a trigger costs a write: one PL/pgSQL call per statement (a
 * setting read and compared), and per transaction and table one log row
 * and one NOTIFY. Triggers stay when nobody watches any more.
 *
 * Every lock wait of the install is bounded (lock_timeout, set for the
 * transaction and put back at the end: see {@link CAPTURE_LOCK_WAIT_MS}):
 * past it the statement fails with 55P03, the transaction is left aborted,
 * and the caller rolls back and may try again.
 */
export async function installPgCapture(
  query: LiveQueryRunner,
  table: TableRef,
  log: PgCaptureLog,
): Promise<PgCaptured> {
  const [setting] = await query(
    "SELECT current_setting('lock_timeout') AS previous, set_config('lock_timeout', greatest($1::int, " +
      "(extract(epoch FROM current_setting('deadlock_timeout')::interval) * 1000)::int + $2::int)::text || 'ms', true)",
    [CAPTURE_LOCK_WAIT_MS, PAST_DEADLOCK_TIMEOUT_MS],
  );
  const captured = await capture(query, table, log);
  await query("SELECT set_config('lock_timeout', $1, true)", [String(setting!.previous)]);
  return captured;
}

/** installPgCapture's work, under its lock_timeout. */
async function capture(query: LiveQueryRunner, table: TableRef, log: PgCaptureLog): Promise<PgCaptured> {
  await query('SELECT pg_advisory_xact_lock($1::bigint)', [DDL_LOCK_KEY]);
  const [where] = await query(
    'SELECT n.nspname AS schema, quote_ident(n.nspname) || $2 || quote_ident(c.relname) AS log FROM pg_class c ' +
      'JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(quote_ident($1))',
    [log.table, '.'],
  );
  if (!where) throw new Error(`the change log table ${log.table} is missing: make it first`);
  const schema = String(where.schema);
  const [target] = await query(
    `SELECT c.relkind::text AS kind FROM pg_class c WHERE c.oid = ${regclassOf('$1', '$2::text')}`,
    [table.name, table.schema ?? null, '.'],
  );
  const name = table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
  if (!target) return { unwatchable: `there is no table ${JSON.stringify(name)}` };
  if (target.kind !== 'r' && target.kind !== 'p') {
    return {
      unwatchable: `${JSON.stringify(name)} is not a table (pg_class.relkind ${String(target.kind)}): its writes fire no trigger`,
    };
  }
  const trigger = triggerName(schema);
  const relatives = (await relativesOf(query, [table], trigger)).get(0) ?? [];
  if (relatives.some((r) => !r.has)) {
    await ensureFunction(query, schema, String(where.log), log.kind);
    for (const r of relatives) {
      if (r.has) continue;
      // Names and the channel quoted by postgres itself (format's %I, %L; regclass text).
      // Null when the table was dropped since the tree was read: its regclass would print as a number.
      const [ddl] = await query(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_class WHERE oid = $2::oid) THEN format('CREATE TRIGGER %I " +
          "AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %I.%I(%L)', " +
          '$1::text, $2::oid::regclass, $3::text, $4::text, $5::text) END AS sql',
        [trigger, r.oid, schema, CAPTURE_FUNCTION, log.channel],
      );
      // Dropped: the next look (or try) reads the tree again.
      if (ddl?.sql == null)
        throw Object.assign(new Error(`the table ${r.grp} was dropped during the install`), { code: '42P01' });
      await query(String(ddl.sql), []);
    }
  }
  return { groups: relatives.map((r) => String(r.grp)), trigger };
}

/** What a look at a captured table's partition tree found (see {@link checkPgCaptures}). */
export interface PgTree {
  /** The groups of its tree now. */
  readonly groups: readonly string[];
  /** Whether every table of the tree has the capture's trigger. */
  readonly complete: boolean;
}

/**
 * Looks at the partition trees of `tables` again, in one read, without a
 * lock or a write: for each (by its index in `tables`), its groups now and
 * whether every table in its tree has the capture's `trigger`, or
 * undefined when the table is gone. A partition created or attached since
 * the capture was installed (or a parent the table was attached to) has
 * none, and one detached leaves the tree: the watcher installs the capture
 * again and re-reads the table (an attach or a detach changes what the
 * table holds, and writes straight into a new partition were not logged).
 */
export async function checkPgCaptures(
  query: LiveQueryRunner,
  tables: readonly TableRef[],
  trigger: string,
): Promise<(PgTree | undefined)[]> {
  const trees = await relativesOf(query, tables, trigger);
  return tables.map((_, i) => {
    const tree = trees.get(i);
    return tree && { groups: tree.map((r) => r.grp), complete: tree.every((r) => r.has) };
  });
}

/** The trigger's name: one per change log schema, so that DataSources on other schemas each have theirs. */
export function triggerName(logSchema: string): string {
  return `sasync_live_${createHash('sha256').update(logSchema).digest('hex').slice(0, 12)}`;
}

/** Makes the trigger function in the log's schema, or replaces it when its body is not this version's. */
async function ensureFunction(query: LiveQueryRunner, schema: string, logTable: string, kind: string): Promise<void> {
  const [made] = await query(
    `SELECT format($1::text, $2::text, $3::text) AS body, ` +
      `(SELECT p.prosrc FROM pg_proc p WHERE p.oid = to_regprocedure(format('%I.%I()', $4::text, $5::text))) AS src`,
    [FUNCTION_BODY, logTable, kind, schema, CAPTURE_FUNCTION],
  );
  const body = String(made!.body);
  if (made!.src === body) return;
  const [ddl] = await query(
    "SELECT format('CREATE OR REPLACE FUNCTION %I.%I() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER " +
      "SET search_path = pg_catalog, pg_temp AS %L', $1::text, $2::text, $3::text) AS sql",
    [schema, CAPTURE_FUNCTION, body],
  );
  await query(String(ddl!.sql), []);
}

/**
 * The trigger function's body, a format() template: %1$L is the change log
 * table (schema-qualified: the function's search_path is pg_catalog) as a literal, %1$s the same as a name, %2$L the
 * entries' kind. `seen` lists the triggers (name and table) that logged in
 * this transaction, between commas; the entry's group is the table's
 * schema-qualified name, each part quoted as needed (as the reader's groups
 * are made). `at` is the database's clock in ms, for retention.
 */
const FUNCTION_BODY = `
DECLARE
  seen text := coalesce(nullif(current_setting('${LOGGED}', true), ''), ',');
  me text := TG_NAME || '@' || TG_RELID::text || ',';
BEGIN
  IF strpos(seen, ',' || me) > 0 THEN RETURN NULL; END IF;
  IF to_regclass(%1$L) IS NULL THEN RETURN NULL; END IF;
  PERFORM set_config('${LOGGED}', seen || me, true);
  INSERT INTO %1$s (xid, kind, grp, name, op, origin, at)
  VALUES (pg_current_xact_id()::text::bigint, %2$L,
    quote_ident(TG_TABLE_SCHEMA) || '.' || quote_ident(TG_TABLE_NAME), NULL, 'all', NULL,
    (extract(epoch FROM clock_timestamp()) * 1000)::bigint);
  PERFORM pg_notify(TG_ARGV[0], '');
  RETURN NULL;
END
`;
