import { lastValueFrom } from 'rxjs';
import { AccessBroker, type DatabaseTarget } from '../../lib';
import { ARRAY_TABLE, ITEMS_TABLE } from '../../lib/stores/tables';
import { ph } from './targets';

/** Makes the store tables, as the stores would, so that rows can be written first. */
class RawBroker extends AccessBroker {
  protected override async startup(): Promise<void> {
    for (const t of [ITEMS_TABLE, ARRAY_TABLE]) await this.table(t.name, t.columns, t.options);
  }
}

/**
 * A plain broker for reading and writing store tables directly with SQL,
 * behind the stores' backs. Shut it down after the stores (on sqlite in
 * memory it keeps the database alive).
 */
export class RawSql {
  readonly broker: AccessBroker;

  constructor(target: DatabaseTarget) {
    this.broker = new RawBroker(target, { name: 'RawSql' });
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.broker.dialect;
  }

  /** `?` placeholders, rewritten for the dialect. */
  async query<T = Record<string, unknown>>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    await this.broker.waitUntilRunning();
    let n = 0;
    const text = sql.replace(/\?/g, () => ph(this.broker.dialect, ++n));
    return lastValueFrom(this.broker.query<T>(text, parameters));
  }

  /** The stored rows of a group of sasync_items, name → value text. */
  items(group: string): Promise<Map<string, string>> {
    return storedRows(this.broker, group);
  }

  shutdown(): Promise<void> {
    return this.broker.shutdown();
  }
}

/** The rows of a group in `sasync_items`, name → stored text, read with plain SQL through any broker. */
export async function storedRows(b: AccessBroker, group: string): Promise<Map<string, string>> {
  const rows = await lastValueFrom(
    b.query<{ name: string; value: string }>(
      `SELECT name, value FROM sasync_items WHERE group_id = ${ph(b.dialect, 1)}`,
      [group],
    ),
  );
  return new Map(rows.map((r) => [r.name, r.value]));
}

/** How many rows a group has in a store table, read with plain SQL through any broker. */
export async function storedCount(
  b: AccessBroker,
  group: string,
  table: 'sasync_items' | 'sasync_array' = 'sasync_items',
): Promise<number> {
  const rows = await lastValueFrom(
    b.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table} WHERE group_id = ${ph(b.dialect, 1)}`, [group]),
  );
  return Number(rows[0]!.n);
}
