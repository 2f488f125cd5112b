import type { RowSource } from '../../rows/row-source';
import type { SqliteQuery } from './sql-calls';

/** The result column that carries each row's rowid, taken off before the row is delivered. */
const ROWID_COLUMN = '__sasync_rowid';

/** How a single-table query is read in rowid order, a chunk at a time. */
export interface RowidPlan {
  /** The first chunk: the caller's parameters, then the chunk size. */
  readonly first: string;
  /** A later chunk: the caller's parameters, the last rowid read, then the chunk size. */
  readonly next: string;
}

const IDENT = String.raw`(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_]*)`;
const SHAPE = new RegExp(
  String.raw`^\s*SELECT\s+(?<columns>.+?)\s+FROM\s+(?<table>${IDENT})(?:\s+(?:AS\s+)?(?<alias>${IDENT}))??` +
    String.raw`(?:\s+WHERE\s+(?<where>.+?))?(?:\s+ORDER\s+BY\s+(?<order>(?:${IDENT}\.)?${IDENT})(?:\s+ASC)?)?[\s;]*$`,
  'isd',
);
/**
 * In the columns or the condition, anything that may change which rows come
 * back or how many, beyond one table read row by row: a subquery, a join,
 * grouping, a limit, a window; and what this check cannot see through
 * (comments, another statement, numbered or named placeholders).
 */
const REFUSED =
  /\b(?:SELECT|FROM|JOIN|UNION|INTERSECT|EXCEPT|GROUP|HAVING|LIMIT|OFFSET|DISTINCT|WINDOW|OVER|WITH|VALUES|ORDER|INDEXED|NATURAL|USING|RETURNING)\b|;|--|\/\*|\?\d|[:@$][A-Za-z_]/i;
const KEYWORDS = new Set(['WHERE', 'ORDER', 'LIMIT', 'GROUP', 'JOIN', 'LEFT', 'INNER', 'CROSS', 'NATURAL']);
/**
 * Opcodes of a program that is not a plain walk of the table in rowid order:
 * aggregates and sorts (each chunk would sort what is left). An ephemeral
 * table alone is an `IN (…)` list, looked up per row.
 */
const NOT_A_WALK = /^(?:Agg|Sorter|Sort$|OpenAutoindex)/;

/**
 * A plan to read `sql` by keyset chunks on its table's rowid, when it is
 * plainly one rowid table filtered row by row: `SELECT columns FROM table
 * [AS alias] [WHERE condition] [ORDER BY its rowid or INTEGER PRIMARY KEY]`,
 * with no aggregate, subquery, join, grouping, limit or named placeholder,
 * and a program that walks the table in rowid order (no sort). An INTEGER
 * PRIMARY KEY with an index of its own (declared DESC) is not the rowid; an
 * unqualified ORDER BY name that the select list mentions other than as that
 * bare column may be a result column's alias (sqlite sorts by the alias), so
 * it is refused. Without ORDER BY the order of the rows is sqlite's to
 * choose, so rowid order is as good as any. Anything else is undefined (the caller copies the result first).
 * Runs a few statements on `query`, which must already be inside the read
 * transaction the chunks will be read in (the snapshot); their failures (a
 * malformed query) are left to the copy to report.
 */
export async function planRowidChunks(
  query: SqliteQuery,
  sql: string,
  parameters: readonly unknown[],
): Promise<RowidPlan | undefined> {
  // String literals masked in place (same length): their text is never taken for SQL.
  const masked = sql.replace(/'(?:[^']|'')*'/g, (literal) => `'${'x'.repeat(literal.length - 2)}'`);
  const shape = SHAPE.exec(masked);
  if (!shape?.groups || !shape.indices?.groups) return undefined;
  const { columns, table, alias, where, order } = shape.groups as Record<string, string | undefined>;
  if (alias !== undefined && KEYWORDS.has(alias.toUpperCase())) return undefined;
  for (const part of [columns, where]) {
    if (part === undefined) continue;
    // An odd quote: the shape was split inside a quoted identifier.
    if ((part.match(/"/g)?.length ?? 0) % 2 !== 0) return undefined;
    if (REFUSED.test(part.replace(/"[^"]*"/g, '""'))) return undefined;
  }
  const original = (group: string) => {
    const at = shape.indices!.groups![group];
    return at ? sql.slice(at[0], at[1]) : undefined;
  };
  const name = unquote(table!);
  try {
    const [kind] = await query(`SELECT type, wr FROM pragma_table_list WHERE schema = 'main' AND name = ?`, [name]);
    if (kind?.type !== 'table' || kind.wr) return undefined;
    const info = await query(`SELECT name, type, pk FROM pragma_table_info(?)`, [name]);
    const taken = new Set(info.map((c) => String(c.name).toLowerCase()));
    const rowid = ['rowid', '_rowid_', 'oid'].find((a) => !taken.has(a));
    if (!rowid || taken.has(ROWID_COLUMN)) return undefined;
    const keys = info.filter((c) => Number(c.pk) > 0);
    // A single INTEGER primary key is the rowid under another name, unless it
    // has an index of its own (`INTEGER PRIMARY KEY DESC` is an ordinary column).
    const pkIndex = await query(`SELECT 1 FROM pragma_index_list(?) WHERE origin = 'pk'`, [name]);
    const pk =
      keys.length === 1 && String(keys[0]!.type).toUpperCase() === 'INTEGER' && pkIndex.length === 0
        ? keys[0]
        : undefined;
    const qualifier = alias ?? table!;
    if (order !== undefined) {
      const dot = order.lastIndexOf('.');
      const column = unquote(dot >= 0 ? order.slice(dot + 1) : order).toLowerCase();
      if (dot >= 0 && unquote(order.slice(0, dot)) !== unquote(qualifier)) return undefined;
      // Unqualified, sqlite takes the name for a result column's alias first.
      if (dot < 0 && mayBeAliased(original('columns')!, columns!, column)) return undefined;
      if (column !== rowid && !(pk !== undefined && column === String(pk.name).toLowerCase())) return undefined;
    }
    // Rowids a JavaScript number holds exactly (the last one read is bound again).
    // Each min() and max() by itself: sqlite answers it from the b-tree's end, without a scan.
    const table$ = `"${name.replace(/"/g, '""')}"`;
    const [range] = await query(
      `SELECT (SELECT min(${rowid}) FROM ${table$}) AS low, (SELECT max(${rowid}) FROM ${table$}) AS high`,
      [],
    );
    const safe = (v: unknown) => v === null || Number.isSafeInteger(v);
    if (!range || !safe(range.low) || !safe(range.high)) return undefined;
    const id = `${qualifier}.${rowid}`;
    const head = `SELECT ${original('columns')!}, ${id} AS ${ROWID_COLUMN} FROM ${table!}${alias ? ` AS ${alias}` : ''}`;
    const filter = where !== undefined ? `(${original('where')!})` : undefined;
    const plan: RowidPlan = {
      first: `${head}${filter ? ` WHERE ${filter}` : ''} ORDER BY ${id} LIMIT ?`,
      next: `${head} WHERE ${filter ? `${filter} AND ` : ''}${id} > ? ORDER BY ${id} LIMIT ?`,
    };
    // (EXPLAIN runs nothing; the values are there for the placeholder count.)
    for (const [statement, extra] of [
      [plan.first, [1]],
      [plan.next, [0, 1]],
    ] as const) {
      const program = await query(`EXPLAIN ${statement}`, [...parameters, ...extra]);
      if (program.some((op) => NOT_A_WALK.test(String(op.opcode)))) return undefined;
    }
    return plan;
  } catch {
    return undefined;
  }
}

/**
 * Whether an item of the select list other than the bare column `name` (or
 * `qualifier.name`) mentions the word `name`: an alias, written with or
 * without AS, that an ORDER BY `name` would mean. Conservative: the word in a
 * literal, a quoted alias or an expression counts too. `masked` is `columns`
 * with its string literals masked (same length), for finding the items.
 */
function mayBeAliased(columns: string, masked: string, name: string): boolean {
  const word = new RegExp(`(?<![\\w$])${name.replace(/[^\w$]/g, '\\$&')}(?![\\w$])`, 'i');
  if (!word.test(columns)) return false;
  // Quoted identifiers masked too, then split at the commas outside parentheses.
  const flat = masked.replace(/"[^"]*"|\[[^\]]*\]|`[^`]*`/g, (q) => 'x'.repeat(q.length));
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= flat.length; i++) {
    const c = flat[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (i === flat.length || (c === ',' && depth === 0)) {
      items.push(columns.slice(start, i).trim());
      start = i + 1;
    }
  }
  const bare = new RegExp(String.raw`^(?:${IDENT}\s*\.\s*)?(?<column>${IDENT})$`, 's');
  return items.some((item) => {
    if (!word.test(item)) return false;
    const column = bare.exec(item)?.groups?.column;
    return column === undefined || unquote(column).toLowerCase() !== name;
  });
}

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1) : identifier;
}

/**
 * Reads a planned query in rowid order, `n` rows a statement. Consistent only
 * inside the read transaction the caller holds (closed by `onClose`).
 */
export function rowidChunkSource<T>(
  query: SqliteQuery,
  plan: RowidPlan,
  parameters: unknown[],
  onClose: () => Promise<void>,
): RowSource<T> {
  let last: unknown;
  let done = false;
  let pending: Promise<unknown> | undefined;
  let closed: Promise<void> | undefined;
  const read = async (n: number): Promise<T[]> => {
    const rows =
      last === undefined
        ? await query(plan.first, [...parameters, n])
        : await query(plan.next, [...parameters, last, n]);
    for (const row of rows) {
      last = row[ROWID_COLUMN];
      // The last property added: V8 takes it off without leaving the object's fast shape.
      delete row[ROWID_COLUMN];
    }
    if (rows.length < n) done = true;
    return rows as T[];
  };
  return {
    read(n) {
      if (done || closed) return Promise.resolve([]);
      const reading = read(n);
      pending = reading;
      return reading;
    },
    close() {
      closed ??= Promise.resolve(pending?.catch(() => undefined)).then(onClose);
      return closed;
    },
  };
}
