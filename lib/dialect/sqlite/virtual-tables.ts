import type { LiveQueryRunner } from '../dialect-live';

/** How `EXPLAIN` shows a `VOpen`'s P4: the address of the virtual table object sqlite holds on this connection. */
const VTAB_P4 = /^vtab:[0-9A-Fa-f]+$/;

/**
 * Which declared virtual tables (`CREATE VIRTUAL TABLE`: fts5, rtree…) a
 * program opens, given the P4 of its `VOpen` instructions, as labels for a
 * message; a `VOpen` of anything else is a table-valued function
 * (json_each, pragma_table_info, generate_series…), whose rows come from its
 * arguments, and is left out.
 *
 * The program does not name the table a `VOpen` opens, only the address of
 * its virtual table object, which sqlite keeps per connection and table
 * while the schema holds (one object per declared table, one per
 * table-valued function). So each declared table of every database on the
 * connection is compiled once (`EXPLAIN SELECT 1 FROM it`) in the same
 * transaction, on the same connection (sqlite has one), and the addresses
 * are compared. Whatever cannot be told (a P4 shown otherwise, a table whose
 * module fails to load) counts as a declared table: refused, never missed.
 * sqlite internals: EXPLAIN's display of P4_VTAB (`vtab:%p`, sqlite's
 * `displayP4`); caught by spec/live/read-tables.spec.ts (fts5 refused,
 * json_each beside it accepted).
 */
export async function declaredVirtualTables(query: LiveQueryRunner, opened: readonly unknown[]): Promise<string[]> {
  if (opened.length === 0) return [];
  if (!opened.every((p4) => typeof p4 === 'string' && VTAB_P4.test(p4))) return ['a virtual table'];
  const byAddress = new Map<string, string>();
  const unknown: string[] = [];
  const databases = (await query('SELECT name FROM pragma_database_list ORDER BY seq', [])) as { name: string }[];
  for (const { name: db } of databases) {
    const declared = (await query(
      `SELECT name FROM ${quote(db)}.sqlite_schema WHERE type = 'table' AND rootpage = 0 ORDER BY name`,
      [],
    )) as { name: string }[];
    for (const { name } of declared) {
      const label = `${quote(db)}.${quote(name)}`;
      try {
        const program = await query(`EXPLAIN SELECT 1 FROM ${label}`, []);
        for (const op of program) if (op.opcode === 'VOpen') byAddress.set(String(op.p4), label);
      } catch {
        unknown.push(label);
      }
    }
  }
  const found = opened.flatMap((p4) => {
    const label = byAddress.get(p4 as string);
    if (label !== undefined) return [label];
    return unknown.length > 0 ? unknown : [];
  });
  return [...new Set(found)].map((label) => `the virtual table ${label}`);
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
