import { BAD_LINE_COLUMNS, ENTRY_COLUMNS, type ValueTable } from './schema';

/** The n-th (0-based) bound parameter as the driver writes it: TypeORM's `driver.createParameter`. */
export type Placeholder = (index: number) => string;

const CLIENT_ERROR = 'case when http >= 400 and http < 500 then 1 else 0 end';

/** A row of a file in `files`. */
export interface FileRow {
  readonly id: number;
  readonly name: string;
  readonly lines: number;
  readonly records: number;
  readonly bad: number;
  readonly done: boolean;
}

/**
 * statalysis's SQL, written once for every dialect: only the placeholders
 * differ, and the driver supplies those. Statements start in lower case:
 * TypeORM's sqlite runner drops the RETURNING rows of one that starts "INSERT ".
 */
export class StatSql {
  readonly #p: Placeholder;
  readonly #inserts = new Map<string, string>();

  constructor(placeholder: Placeholder) {
    this.#p = placeholder;
  }

  /** The ids of a value. */
  selectValue(table: ValueTable): string {
    return `select id from ${table} where value = ${this.#p(0)}`;
  }

  /** Adds a value; no row when another transaction added it first. */
  insertValue(table: ValueTable): string {
    return `insert into ${table} (value) values (${this.#p(0)}) on conflict (value) do nothing returning id`;
  }

  /** A multi-row INSERT of `rows` entries (cached per row count: batches have one or two sizes). */
  insertEntries(rows: number): string {
    return this.#multiRow('entries', ENTRY_COLUMNS, rows);
  }

  insertBadLines(rows: number): string {
    return this.#multiRow('bad_lines', BAD_LINE_COLUMNS, rows);
  }

  readonly findFile = (): string => `select id, name, lines, records, bad, done from files where hash = ${this.#p(0)}`;

  readonly addFile = (): string =>
    `insert into files (name, hash, lines, records, bad, done, started) ` +
    `values (${[0, 1, 2, 3, 4, 5, 6].map(this.#p).join(', ')}) returning id`;

  /** Moves a file's resume point: in the transaction that wrote its lines. */
  readonly progress = (): string =>
    `update files set lines = ${this.#p(0)}, records = ${this.#p(1)}, bad = ${this.#p(2)} where id = ${this.#p(3)}`;

  readonly finishFile = (): string =>
    `update files set done = ${this.#p(0)}, dt = ${this.#p(1)} where id = ${this.#p(2)}`;

  /**
   * Marks as bad the addresses with at least $1 client errors (4xx) that are
   * also most of their requests: scanners, not busy browsers. purged stays
   * false (a literal: postgres cannot type a parameter in the select list);
   * `where true` lets sqlite tell the upsert's ON from a join's.
   */
  readonly markBadIps = (): string =>
    'insert into bad_ip (ip, purged) select ip, false from entries where true group by ip ' +
    `having sum(${CLIENT_ERROR}) >= ${this.#p(0)} and 2 * sum(${CLIENT_ERROR}) >= count(*) on conflict (ip) do nothing`;

  #multiRow(table: string, columns: readonly string[], rows: number): string {
    const key = `${table}/${rows}`;
    let sql = this.#inserts.get(key);
    if (sql === undefined) {
      const width = columns.length;
      const tuples = Array.from(
        { length: rows },
        (_, r) => `(${columns.map((_c, c) => this.#p(r * width + c)).join(', ')})`,
      );
      sql = `insert into ${table} (${columns.join(', ')}) values ${tuples.join(', ')}`;
      this.#inserts.set(key, sql);
    }
    return sql;
  }
}

/** A files row as the driver returns it (sqlite: booleans as 1/0; postgres: counts may be strings). */
export function fileRow(row: Record<string, unknown>): FileRow {
  return {
    id: Number(row.id),
    name: String(row.name),
    lines: Number(row.lines),
    records: Number(row.records),
    bad: Number(row.bad),
    done: Boolean(Number(row.done)),
  };
}
