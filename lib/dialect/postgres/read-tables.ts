import { LiveQueryError } from '../../errors';
import type { LiveQueryRunner, TableRef } from '../dialect-live';
import { checkOneQuery, statementShape, tableLabel, uniqueTables, type StatementShape } from '../live-statement';
import { skipPostgresQuoted } from './sql-text';

/** How a postgres query may begin (`TABLE t` is `SELECT * FROM t`; a parenthesis opens a set operation). */
const QUERY_STARTS = ['SELECT', 'WITH', 'VALUES', 'TABLE', '('];

/** One node of `EXPLAIN (FORMAT JSON)`'s plan: the fields read here. */
interface PlanNode {
  readonly 'Node Type'?: string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly Operation?: string;
  readonly Plans?: readonly PlanNode[];
}

/** What a walk of the plan found. */
interface PlanReads {
  readonly relations: TableRef[];
  /** Node types that write (ModifyTable) or lock rows (LockRows). */
  readonly writes: Set<string>;
  /** Scans the plan gives no relation for (a foreign join pushed down, a custom scan). */
  readonly opaque: Set<string>;
}

/** What pg_class says of a relation. */
interface RelationRow {
  readonly schema: string;
  readonly name: string;
  readonly kind: string;
  readonly persistence: string;
}

const KIND_REASONS: Readonly<Record<string, string>> = {
  m: 'a materialized view: it changes only on REFRESH, and no trigger sees that',
  f: 'a foreign table: its rows change on another server',
  S: 'a sequence',
  t: 'a TOAST table',
};

/**
 * The tables a postgres query reads, as the planner names them: the
 * relations of `EXPLAIN (FORMAT JSON, VERBOSE) <sql>` (run with the
 * parameters bound, in the caller's transaction, through `query`; EXPLAIN
 * without ANALYZE plans the query and runs nothing). Every node of the plan
 * is walked: joins, subqueries (InitPlan, SubPlan), CTEs, set operations;
 * views arrive expanded into their tables, an index-only scan names its
 * table.
 *
 * What the planner reads is what is named: a LEFT JOIN it removes (to a
 * unique key, none of whose columns are used) reads nothing and is not
 * named, rightly, since its changes cannot change the result; a constant
 * false WHERE reads nothing ('no-tables'). A partitioned table is named by
 * the partitions the plan scans (after pruning with these parameters), not
 * by its root: a write through the root fires the root's statement
 * triggers, not the partition's, so whoever watches a partition must also
 * watch `pg_partition_root(partition)`. Inheritance children are named
 * with their parent.
 *
 * Refused (LiveQueryError): text that is not one query, judged before
 * anything is sent (several statements, a first keyword other than
 * SELECT, WITH, VALUES, TABLE or `(`, `SELECT … INTO`, which creates a
 * table) and a plan that writes (a ModifyTable node: a data-modifying CTE)
 * or locks rows (`FOR UPDATE`/`FOR SHARE`: a LockRows node, writing lock
 * marks on the rows at every refresh) are 'not-a-query'; a plan over no
 * table 'no-tables'; catalogs (pg_catalog, information_schema, pg_toast),
 * temporary tables (each session has its own), materialized views, foreign
 * tables and sequences 'unwatchable-table'. Errors of the query itself (a
 * missing table, a syntax error inside the SELECT) are the database's, as
 * they are. A function with side effects (`nextval`, a user function that
 * writes) cannot be seen in a plan: such a query is accepted, and runs its
 * function at every refresh.
 */
export async function readPostgresTables(
  query: LiveQueryRunner,
  sql: string,
  parameters: readonly unknown[],
): Promise<TableRef[]> {
  const shape = await postgresShape(query, sql);
  checkOneQuery(sql, shape, QUERY_STARTS);
  // INTO is reserved: bare, in a statement that starts as a query, it is SELECT … INTO (a new table, which
  // EXPLAIN plans as the SELECT alone, nothing in the plan showing it) or INSERT INTO in a WITH.
  if (shape.words.has('INTO')) {
    throw new LiveQueryError(
      'not-a-query',
      sql,
      'a live query only reads, and INTO writes (SELECT … INTO creates a table, INSERT INTO adds rows): ' +
        'remove it, and run writes with query() or transact()',
    );
  }
  const rows = await query(`EXPLAIN (FORMAT JSON, VERBOSE) ${sql}`, parameters);
  const reads = planReads(planOf(rows));
  if (reads.writes.size > 0) {
    const locks = reads.writes.has('LockRows');
    throw new LiveQueryError(
      'not-a-query',
      sql,
      locks
        ? 'a live query cannot lock rows (FOR UPDATE / FOR SHARE): it runs again at every change; remove the locking clause'
        : 'a live query only reads, and this one writes (INSERT, UPDATE, DELETE or MERGE, perhaps in a WITH): ' +
            'run writes with query() or transact()',
    );
  }
  if (reads.opaque.size > 0) {
    throw new LiveQueryError(
      'unwatchable-table',
      sql,
      `the plan reads through ${[...reads.opaque].join(', ')}, which names no table whose changes can be watched: ` +
        "name the tables to watch in the live query's 'tables' option",
    );
  }
  const tables = uniqueTables(reads.relations);
  if (tables.length === 0) {
    throw new LiveQueryError(
      'no-tables',
      sql,
      'postgres reads no table for this query (constants or functions only, or a WHERE it knows is false): ' +
        "nothing would ever refresh it; query() it once, or name the tables to watch in the 'tables' option",
    );
  }
  await refuseUnwatchable(query, sql, tables);
  return tables;
}

/**
 * The statement's shape as the server lexes it: a backslash before a quote
 * in a plain string ends the string or not depending on
 * standard_conforming_strings, so where the two readings differ (only then:
 * one query more) the server's setting decides. Read wrongly, a `;` inside
 * a string could hide a second statement, which the simple protocol (SQL
 * without parameters) would run.
 */
async function postgresShape(query: LiveQueryRunner, sql: string): Promise<StatementShape> {
  const standard = statementShape(sql, skipPostgresQuoted(true));
  const legacy = statementShape(sql, skipPostgresQuoted(false));
  const same =
    standard.first === legacy.first &&
    standard.statements === legacy.statements &&
    standard.words.size === legacy.words.size &&
    [...standard.words].every((w) => legacy.words.has(w));
  if (same) return standard;
  const [row] = await query("SELECT current_setting('standard_conforming_strings') AS standard", []);
  return row?.standard === 'off' ? legacy : standard;
}

/** The plan's root node from EXPLAIN's one row (pg parses its json column; a text one is parsed here). */
function planOf(rows: readonly Record<string, unknown>[]): PlanNode {
  const value = rows[0]?.['QUERY PLAN'];
  const parsed: unknown = typeof value === 'string' ? JSON.parse(value) : value;
  const plan = Array.isArray(parsed) ? (parsed[0] as { Plan?: PlanNode } | undefined)?.Plan : undefined;
  if (!plan) throw new TypeError(`EXPLAIN (FORMAT JSON) gave no plan: ${JSON.stringify(rows).slice(0, 200)}`);
  return plan;
}

function planReads(root: PlanNode): PlanReads {
  const reads: PlanReads = { relations: [], writes: new Set(), opaque: new Set() };
  const visit = (node: PlanNode) => {
    const type = node['Node Type'] ?? '';
    if (type === 'ModifyTable' || type === 'LockRows') reads.writes.add(type);
    const name = node['Relation Name'];
    // ModifyTable names the table it writes; it is refused above anyway.
    if (name !== undefined && type !== 'ModifyTable') reads.relations.push({ schema: node.Schema, name });
    else if (name === undefined && (type === 'Foreign Scan' || type === 'Custom Scan')) reads.opaque.add(type);
    for (const child of node.Plans ?? []) visit(child);
  };
  visit(root);
  return reads;
}

/** Refuses catalogs, temporary tables and relations that are not plain tables (kinds from pg_class). */
async function refuseUnwatchable(query: LiveQueryRunner, sql: string, tables: readonly TableRef[]): Promise<void> {
  const reasons: string[] = [];
  const rest: TableRef[] = [];
  for (const t of tables) {
    const schema = t.schema ?? '';
    if (schema === 'pg_catalog' || schema === 'information_schema' || schema.startsWith('pg_toast')) {
      reasons.push(`${tableLabel(t)} (a system catalog: its changes go through no trigger)`);
    } else if (schema === 'pg_temp' || /^pg_temp_\d+$/.test(schema)) {
      reasons.push(`${tableLabel(t)} (a temporary table: only its own session sees it)`);
    } else rest.push(t);
  }
  if (rest.length > 0) {
    const rows = (await query(
      'SELECT n.nspname AS "schema", c.relname AS "name", c.relkind AS "kind", c.relpersistence AS "persistence" ' +
        'FROM json_to_recordset($1::json) AS r("schema" text, "name" text) ' +
        'JOIN pg_catalog.pg_namespace n ON n.nspname = r."schema" ' +
        'JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = r."name"',
      [JSON.stringify(rest.map((t) => ({ schema: t.schema, name: t.name })))],
    )) as unknown as RelationRow[];
    const found = new Map(rows.map((r) => [JSON.stringify([r.schema, r.name]), r]));
    for (const t of rest) {
      const row = found.get(JSON.stringify([t.schema, t.name]));
      if (row === undefined) reasons.push(`${tableLabel(t)} (not found in pg_class)`);
      else if (row.persistence === 't')
        reasons.push(`${tableLabel(t)} (a temporary table: only its own session sees it)`);
      else if (row.kind !== 'r' && row.kind !== 'p') {
        reasons.push(`${tableLabel(t)} (${KIND_REASONS[row.kind] ?? `a relation of kind '${row.kind}'`})`);
      }
    }
  }
  if (reasons.length > 0) {
    throw new LiveQueryError(
      'unwatchable-table',
      sql,
      `a live query cannot watch ${reasons.join(', ')}: read plain tables instead, ` +
        "or name the tables to watch in the live query's 'tables' option",
    );
  }
}
