import { LiveQueryError } from '../../errors';
import type { LiveQueryRunner, TableRef } from '../dialect-live';
import { checkOneQuery, statementShape, tableLabel, uniqueTables } from '../live-statement';
import { skipSqliteQuoted } from './sql-text';
import { declaredVirtualTables } from './virtual-tables';

/** How a sqlite query may begin. */
const QUERY_STARTS = ['SELECT', 'WITH', 'VALUES'];

/** One instruction of the VDBE program `EXPLAIN` lists. */
interface Instruction {
  readonly opcode: string;
  readonly p1: number;
  readonly p2: number;
  readonly p3: number;
  readonly p4: unknown;
}

/** A b-tree the program opens for reading: its root page, in database `db` (0 main, 1 temp, 2+ attached). */
interface BtreeRead {
  readonly db: number;
  readonly root: number;
}

/** A row of sqlite_schema. */
interface SchemaRow {
  readonly type: string;
  readonly name: string;
  readonly tbl: string;
  readonly rootpage: number;
}

/** sqlite_schema's own root page: it is not listed in itself. */
const SCHEMA_ROOT = 1;

/**
 * The tables a sqlite query reads, as the compiled statement opens them: the
 * b-trees of the `OpenRead` and `ReopenIdx` instructions of `EXPLAIN <sql>`
 * (run with the parameters bound, in the caller's transaction, through
 * `query`; EXPLAIN compiles and runs nothing), each root page mapped to its
 * table through sqlite_schema (an index to the table it indexes). So joins,
 * subqueries, CTEs and compound SELECTs are all found, views arrive
 * expanded into their tables, and a query answered from a covering index
 * names the index's table. Temporary b-trees (`OpenEphemeral`,
 * `OpenAutoindex`, sorters) are not tables and are skipped. A LEFT JOIN
 * sqlite omits (to a unique key, none of whose columns are used) opens
 * nothing and is not named: its changes cannot change the result.
 *
 * Refused (LiveQueryError):
 * - 'not-a-query': text that is not one query, judged before anything is
 *   sent (several statements: node-sqlite3 would run only the first; a first
 *   keyword other than SELECT, WITH or VALUES: PRAGMA, DDL…), and a program
 *   that writes (`OpenWrite`, or a `Transaction` instruction opening a write
 *   transaction: `WITH … INSERT`);
 * - 'unwatchable-table': a table of the temp database (only the connection
 *   that made it sees it) or of an attached one (attached on one connection
 *   only; a trigger in main cannot be put on it); sqlite's own tables
 *   (`sqlite_schema`, `sqlite_sequence`, `sqlite_stat1`…, written by sqlite
 *   itself, no trigger allowed); a declared virtual table (a `VOpen` of
 *   fts5, rtree…: its module keeps its rows, fts5 in shadow tables it writes
 *   itself), told from a table-valued function (json_each,
 *   pragma_table_info…, whose rows come from its arguments: skipped) by
 *   {@link declaredVirtualTables}; the caller may name the tables to watch
 *   in the live query's 'tables' option.
 * - 'no-tables': a program that opens no table (`SELECT 1`, `SELECT date()`).
 *
 * Errors of the query itself (a missing table, a syntax error) are
 * sqlite's, as they are. A function with side effects cannot be seen in the
 * program: such a query is accepted and runs it at every refresh.
 */
export async function readSqliteTables(
  query: LiveQueryRunner,
  sql: string,
  parameters: readonly unknown[],
): Promise<TableRef[]> {
  checkOneQuery(sql, statementShape(sql, skipSqliteQuoted), QUERY_STARTS);
  const program = (await query(`EXPLAIN ${sql}`, parameters)) as unknown as Instruction[];
  if (program.some((op) => op.opcode === 'OpenWrite' || (op.opcode === 'Transaction' && Number(op.p2) !== 0))) {
    throw new LiveQueryError(
      'not-a-query',
      sql,
      'a live query only reads, and this statement writes (an INSERT, UPDATE or DELETE, perhaps after a WITH): ' +
        'run writes with query() or transact()',
    );
  }
  const reads: BtreeRead[] = program
    .filter((op) => op.opcode === 'OpenRead' || op.opcode === 'ReopenIdx')
    .map((op) => ({ db: Number(op.p3), root: Number(op.p2) }));
  const reasons = await otherDatabases(query, reads);
  const virtual = await declaredVirtualTables(
    query,
    program.filter((op) => op.opcode === 'VOpen').map((op) => op.p4),
  );
  for (const label of virtual) reasons.push(`${label} (its module keeps its rows, out of any trigger's sight)`);
  const tables = await mainTables(
    query,
    reads.filter((r) => r.db === 0).map((r) => r.root),
    reasons,
  );
  if (reasons.length > 0) {
    throw new LiveQueryError(
      'unwatchable-table',
      sql,
      `a live query cannot watch ${[...new Set(reasons)].join(', ')}: read tables of the main database instead, ` +
        "or name the tables to watch in the live query's 'tables' option",
    );
  }
  if (tables.length === 0) {
    throw new LiveQueryError(
      'no-tables',
      sql,
      'sqlite reads no table for this query (constants or functions only): nothing would ever refresh it; ' +
        "query() it once, or name the tables to watch in the 'tables' option",
    );
  }
  return tables;
}

/** Why reads in the temp or attached databases cannot be watched, one reason per database. */
async function otherDatabases(query: LiveQueryRunner, reads: readonly BtreeRead[]): Promise<string[]> {
  const dbs = [...new Set(reads.filter((r) => r.db !== 0).map((r) => r.db))].sort((a, b) => a - b);
  if (dbs.length === 0) return [];
  const rows = (await query('SELECT seq, name FROM pragma_database_list', [])) as { seq: number; name: string }[];
  const names = new Map(rows.map((r) => [Number(r.seq), r.name]));
  return dbs.map((db) =>
    db === 1
      ? 'a temporary table (only the connection that made it sees it)'
      : `a table of the attached database "${names.get(db) ?? db}" (attached on one connection only)`,
  );
}

/** The main database's tables at these root pages; sqlite's own tables and unknown pages go to `reasons`. */
async function mainTables(query: LiveQueryRunner, roots: readonly number[], reasons: string[]): Promise<TableRef[]> {
  const pages = [...new Set(roots)].sort((a, b) => a - b);
  const listed = pages.filter((p) => p !== SCHEMA_ROOT);
  const rows =
    listed.length === 0
      ? []
      : ((await query(
          `SELECT type, name, tbl_name AS tbl, rootpage FROM sqlite_schema WHERE rootpage IN (${listed.map(() => '?').join(', ')})`,
          listed,
        )) as unknown as SchemaRow[]);
  const byRoot = new Map(rows.map((r) => [Number(r.rootpage), r]));
  const tables: TableRef[] = [];
  for (const page of pages) {
    const row = byRoot.get(page);
    const name = page === SCHEMA_ROOT ? 'sqlite_schema' : row?.type === 'index' ? row.tbl : row?.name;
    if (name === undefined) reasons.push(`the b-tree at root page ${page} (sqlite_schema does not name it)`);
    // sqlite reserves every name starting sqlite_, in any case.
    else if (name.toLowerCase().startsWith('sqlite_')) {
      reasons.push(`${tableLabel({ name })} (sqlite's own table: sqlite writes it, and allows it no trigger)`);
    } else tables.push({ name });
  }
  return uniqueTables(tables);
}
