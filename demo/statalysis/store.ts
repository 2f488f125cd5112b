import type { LogRecord } from './parse';
import { VALUE_LENGTH, VALUE_TABLES, type ValueTable } from './schema';
import type { FileRow } from './sql';

/** What one batch transaction writes: flat bound parameters, and the file's totals after it. */
export interface Batch {
  readonly fileId: number;
  /** ENTRY_COLUMNS.length values per entry. */
  readonly entries: readonly unknown[];
  /** BAD_LINE_COLUMNS.length values per bad line. */
  readonly badLines: readonly unknown[];
  /** The file's resume point: every line up to this one is in the database once this commits. */
  readonly lines: number;
  readonly records: number;
  readonly bad: number;
}

/**
 * Where an import writes. The sasync broker is one; the benchmark's plain
 * TypeORM baseline is the other, with the same SQL and the same batches.
 */
export interface EntryStore {
  readonly ids: IdCache;
  /** The files row for this content (by hash), added with nothing read yet if new. */
  openFile(name: string, hash: string): Promise<FileRow>;
  /** Adds the values of these records that the cache lacks (one transaction) and caches their ids. */
  resolve(records: readonly LogRecord[]): Promise<void>;
  /** A batch's entries and bad lines, and the file's new resume point, in one transaction. */
  writeBatch(batch: Batch): Promise<void>;
  /** Marks the file done and updates bad_ip. */
  finishFile(fileId: number): Promise<void>;
}

/** Addresses with at least this many client errors (4xx), making most of their requests, go into bad_ip. */
export const BAD_IP_4XX = 50;

/** A record's value for a value table, cut to what the table keeps. */
export function valueOf(record: LogRecord, table: ValueTable): string {
  const value = record[table];
  if (value.length <= VALUE_LENGTH) return value;
  // Never leave half a surrogate pair: postgres would refuse the text.
  const cut = value.slice(0, VALUE_LENGTH);
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** The ids of values already in the value tables (the seed's idTable): most lines need no lookup. */
export class IdCache {
  readonly #ids = new Map<ValueTable, Map<string, number>>(VALUE_TABLES.map((t) => [t, new Map()]));

  /** The values of these records that are not cached yet, each once. */
  missing(records: readonly LogRecord[]): [ValueTable, string][] {
    const wanted: [ValueTable, string][] = [];
    const seen = new Set<string>();
    for (const table of VALUE_TABLES) {
      const ids = this.#ids.get(table)!;
      seen.clear();
      for (const record of records) {
        const value = valueOf(record, table);
        if (!ids.has(value) && !seen.has(value)) {
          seen.add(value);
          wanted.push([table, value]);
        }
      }
    }
    return wanted;
  }

  add(table: ValueTable, value: string, id: number): void {
    this.#ids.get(table)!.set(value, id);
  }

  /** @throws Error if the value was never resolved: a bug in the caller. */
  get(table: ValueTable, value: string): number {
    const id = this.#ids.get(table)!.get(value);
    if (id === undefined) throw new Error(`no id for ${table} ${JSON.stringify(value)}: resolve() it first`);
    return id;
  }

  /** How many values are cached. */
  get size(): number {
    let n = 0;
    for (const ids of this.#ids.values()) n += ids.size;
    return n;
  }
}

/** Statements stay under sqlite's 32,766 bound parameters. */
const MAX_PARAMETERS = 30_000;

/** Runs a multi-row INSERT over `values` (`width` per row), in as few statements as the parameter limit allows. */
export async function insertInChunks(
  query: (sql: string, values: unknown[]) => Promise<unknown>,
  sqlFor: (rows: number) => string,
  width: number,
  values: readonly unknown[],
): Promise<void> {
  const step = Math.floor(MAX_PARAMETERS / width) * width;
  for (let start = 0; start < values.length; start += step) {
    const chunk = values.slice(start, start + step);
    await query(sqlFor(chunk.length / width), chunk);
  }
}
