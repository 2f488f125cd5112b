import { lastValueFrom } from 'rxjs';
import { AccessBroker, type DatabaseTarget } from '../../lib';
import { ARRAY_TABLE, ITEMS_TABLE } from '../../lib/stores/store-broker';
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
  async items(group: string): Promise<Map<string, string>> {
    const rows = await this.query<{ name: string; value: string }>(
      'SELECT name, value FROM sasync_items WHERE group_id = ?',
      [group],
    );
    return new Map(rows.map((r) => [r.name, r.value]));
  }

  shutdown(): Promise<void> {
    return this.broker.shutdown();
  }
}
