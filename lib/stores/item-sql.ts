/** A statement and its bound parameters. */
export interface Statement {
  readonly sql: string;
  readonly parameters: unknown[];
}

/** Rows per multi-row statement: far below both databases' limits on bound parameters. */
export const ROWS_PER_STATEMENT = 500;

const T = 'sasync_items';

/**
 * The statements of `sasync_items` for one group. Values are always bound;
 * `p(n)` is the database's n-th placeholder.
 */
export class ItemSql {
  constructor(
    readonly group: string,
    private readonly p: (n: number) => string,
  ) {}

  load(name: string): Statement {
    const { p } = this;
    return {
      sql: `SELECT value FROM ${T} WHERE group_id = ${p(1)} AND name = ${p(2)}`,
      parameters: [this.group, name],
    };
  }

  loadAll(): Statement {
    return { sql: `SELECT name, value FROM ${T} WHERE group_id = ${this.p(1)}`, parameters: [this.group] };
  }

  /** Some items' values; names are at most {@link ROWS_PER_STATEMENT}. */
  loadSome(names: readonly string[]): Statement {
    const list = names.map((_, i) => this.p(i + 2)).join(', ');
    return {
      sql: `SELECT name, value FROM ${T} WHERE group_id = ${this.p(1)} AND name IN (${list})`,
      parameters: [this.group, ...names],
    };
  }

  names(): Statement {
    return { sql: `SELECT name FROM ${T} WHERE group_id = ${this.p(1)}`, parameters: [this.group] };
  }

  insert(name: string, text: string): Statement {
    const { p } = this;
    return {
      sql: `INSERT INTO ${T} (group_id, name, value) VALUES (${p(1)}, ${p(2)}, ${p(3)})`,
      parameters: [this.group, name, text],
    };
  }

  update(name: string, text: string): Statement {
    const { p } = this;
    return {
      sql: `UPDATE ${T} SET value = ${p(1)} WHERE group_id = ${p(2)} AND name = ${p(3)}`,
      parameters: [text, this.group, name],
    };
  }

  /** Inserts or replaces items; at most {@link ROWS_PER_STATEMENT} of them. */
  upsert(items: readonly (readonly [string, string])[]): Statement {
    const parameters: unknown[] = [];
    const rows = items.map(([name, text]) => {
      const n = parameters.push(this.group, name, text);
      return `(${this.p(n - 2)}, ${this.p(n - 1)}, ${this.p(n)})`;
    });
    return {
      sql:
        `INSERT INTO ${T} (group_id, name, value) VALUES ${rows.join(', ')} ` +
        'ON CONFLICT (group_id, name) DO UPDATE SET value = excluded.value',
      parameters,
    };
  }

  /** Deletes some items; at most {@link ROWS_PER_STATEMENT} of them. */
  delete(names: readonly string[]): Statement {
    const list = names.map((_, i) => this.p(i + 2)).join(', ');
    return {
      sql: `DELETE FROM ${T} WHERE group_id = ${this.p(1)} AND name IN (${list})`,
      parameters: [this.group, ...names],
    };
  }

  clear(): Statement {
    return { sql: `DELETE FROM ${T} WHERE group_id = ${this.p(1)}`, parameters: [this.group] };
  }
}

/** `items` in slices of at most {@link ROWS_PER_STATEMENT}. */
export function* slices<T>(items: readonly T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += ROWS_PER_STATEMENT) yield items.slice(i, i + ROWS_PER_STATEMENT);
}
