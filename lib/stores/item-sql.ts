import type { Statement } from './statement';
import { ITEMS_TABLE } from './tables';
import { writeRuns } from './write-order';
import type { WriteBatch } from './write-queue';

const T = ITEMS_TABLE.name;

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

  /** Some items' values; names are at most ROWS_PER_STATEMENT (statement.ts). */
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

  /** Inserts or replaces items; at most ROWS_PER_STATEMENT (statement.ts) of them. */
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

  /** Deletes some items; at most ROWS_PER_STATEMENT (statement.ts) of them. */
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

  /**
   * The statements of one write transaction: keys in the order of the
   * table's unique index, so that two writers of the same keys lock them in
   * the same order and cannot deadlock each other.
   */
  writes(batch: WriteBatch): Statement[] {
    const statements = batch.cleared ? [this.clear()] : [];
    for (const run of writeRuns(batch.writes)) {
      if (run.deleted) statements.push(this.delete(run.keys));
      else statements.push(this.upsert(run.keys.map((name) => [name, batch.writes.get(name) as string] as const)));
    }
    return statements;
  }
}
