import type { RowSource } from '../../rows/row-source';
import { InvalidIdentifierError } from '../../errors';
import { checkIdentifier } from '../../schema/identifiers';
import { explainFailure } from './read-only';
import type { SqliteQuery, SqliteStep } from './sql-calls';
import { compareSqlite } from './sqlite-order';

/** The connection a chunk source reads on. */
export interface SqliteCursorConnection {
  /** Runs the stream's reads. */
  readonly query: SqliteQuery;
  /**
   * Creates and drops the temporary copy (a write to the temp database, which
   * `PRAGMA query_only` refuses too); `query` when not given.
   */
  readonly writeTemp?: SqliteQuery;
  /**
   * Outside a transaction, where the connection refuses writes: runs one step
   * of a statement by itself, to tell a statement that writes from a syntax
   * error (see explainFailure). Inside a transaction: undefined.
   */
  readonly step?: SqliteStep;
}

let tables = 0;

/**
 * Reads a result in chunks, a few SQL statements per chunk, never one driver
 * call per row (node-sqlite3 runs about 36,000 of those a second).
 *
 * - With `key` (a unique column, increasing in the result's order): keyset
 *   chunks, `… WHERE key > last ORDER BY key LIMIT n`. Consistent only inside
 *   a read transaction, which the caller holds.
 * - Without, for a query that is not a plain one-table read (a plain one on a
 *   WAL file is read by its rowid instead: `rowid-chunks.ts`, chosen in
 *   `cursor.ts`): the result is first copied into a temporary table (sqlite
 *   keeps it in a temp file, not in our memory), a snapshot by construction,
 *   then read by rowid ranges. The table is dropped on close.
 */
export function sqliteChunkSource<T>(
  connection: SqliteCursorConnection,
  sql: string,
  parameters: unknown[],
  key: string | undefined,
  onClose: () => Promise<void>,
): RowSource<T> {
  let closed: Promise<void> | undefined;
  let cleanup = async (): Promise<void> => undefined;
  let read: (n: number) => Promise<Record<string, unknown>[]>;
  const { query, writeTemp = connection.query, step } = connection;
  // The first statement that runs the caller's SQL: a failure is explained there.
  const first = <R>(running: Promise<R>): Promise<R> =>
    step
      ? running.catch(async (error: unknown) => {
          throw await explainFailure(error, query, step, body(sql), parameters);
        })
      : running;
  if (key !== undefined) {
    const column = `"${checkIdentifier('column', key)}"`;
    const base = `SELECT * FROM (${body(sql)}\n) AS sasync_stream`;
    let last: unknown;
    let started = false;
    read = async (n) => {
      let rows: Record<string, unknown>[];
      if (!started) {
        rows = await first(query(`${base} ORDER BY ${column} LIMIT ?`, [...parameters, n]));
        started = true;
      } else {
        // >= and one more row: the row read last comes back first; a second
        // one with its key would have been skipped by a plain >.
        rows = await query(`${base} WHERE ${column} >= ? ORDER BY ${column} LIMIT ?`, [...parameters, last, n + 1]);
        let same = 0;
        while (same < rows.length && compareSqlite(rows[same]![key], last) === 0) same++;
        if (same > 1) throw badKey(key, 'its values repeat');
        rows = rows.slice(same);
      }
      checkKeys(rows, key, last);
      if (rows.length > 0) last = rows[rows.length - 1]![key];
      return rows;
    };
  } else {
    const table = `temp.sasync_stream_${process.pid}_${++tables}`;
    let copied: Promise<string> | undefined;
    let next = 1;
    read = async (n) => {
      copied ??= first(copy(writeTemp, query, table, sql, parameters)).then((rowid) => {
        cleanup = () => writeTemp(`DROP TABLE IF EXISTS ${table}`, []).then(() => undefined);
        return rowid;
      });
      const rowid = await copied;
      const rows = await query(`SELECT * FROM ${table} WHERE ${rowid} BETWEEN ? AND ? ORDER BY ${rowid}`, [
        next,
        next + n - 1,
      ]);
      next += n;
      return rows;
    };
  }
  let done = false;
  let pending: Promise<unknown> | undefined;
  return {
    async read(n) {
      if (done) return [];
      const reading = read(n);
      pending = reading;
      const rows = await reading;
      if (rows.length < n) done = true;
      return rows as T[];
    },
    close() {
      // A copy still running would create its table after a DROP made now.
      closed ??= Promise.resolve(pending?.catch(() => undefined))
        .then(() => cleanup())
        .catch(() => undefined)
        .then(onClose);
      return closed;
    },
  };
}

/**
 * Copies the result into `table` and returns the name its rowid answers to:
 * a result column named rowid, oid or _rowid_ takes that name over.
 */
async function copy(
  writeTemp: SqliteQuery,
  query: SqliteQuery,
  table: string,
  sql: string,
  parameters: unknown[],
): Promise<string> {
  await writeTemp(`CREATE TABLE ${table} AS ${body(sql)}\n`, parameters);
  const [schema, name] = table.split('.');
  const columns = await query(`SELECT name FROM pragma_table_info(?, ?)`, [name, schema]);
  const taken = new Set(columns.map((c) => String(c.name).toLowerCase()));
  const rowid = ['rowid', '_rowid_', 'oid'].find((alias) => !taken.has(alias));
  if (!rowid) {
    throw new InvalidIdentifierError(
      'column',
      'rowid',
      'the result has columns named rowid, _rowid_ and oid, so sqlite cannot read it in chunks: ' +
        'rename one, or pass { key } naming a unique increasing column',
    );
  }
  return rowid;
}

/**
 * The SQL without a trailing semicolon or comments, which would end the
 * subquery early or swallow its closing parenthesis.
 */
function body(sql: string): string {
  return sql.trim().replace(/(;|\s|--[^\n]*$)+$/, '');
}

/**
 * Keys must be present, not null, and strictly increasing in sqlite's order
 * (text by UTF-8 bytes, not by JavaScript's UTF-16 units): otherwise rows
 * would be skipped silently.
 */
function checkKeys(rows: Record<string, unknown>[], key: string, previous: unknown): void {
  let before = previous;
  for (const row of rows) {
    if (!(key in row)) throw badKey(key, 'the result has no such column');
    const value = row[key];
    if (value === null || value === undefined) throw badKey(key, 'a row has NULL in it');
    if (before !== undefined && !(compareSqlite(before, value) < 0)) {
      throw badKey(key, 'its values are not unique and increasing in the result');
    }
    before = value;
  }
}

function badKey(key: string, reason: string): InvalidIdentifierError {
  return new InvalidIdentifierError(
    'column',
    key,
    `cannot read chunks by key ${JSON.stringify(key)}: ${reason}; name a unique, increasing, non-null column, or leave key out`,
  );
}
