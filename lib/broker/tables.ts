import { lastValueFrom } from 'rxjs';
import { SchemaDriftError, TransactionError } from '../errors';
import type { ColumnSpec } from '../schema/column';
import { ensureTable } from '../schema/create-table';
import { checkTableSpec, type TableInfo, type TableOptions } from '../schema/table-spec';
import type { Submitter } from '../transaction/submit';
import type { Lifecycle } from './lifecycle';
import type { SharedDatabase } from './registry';

/**
 * A broker's table(): each creation is a transaction of the start-up's kind
 * (ahead of the queue, retried twice); concurrent calls for one name, from
 * any broker on the database, share one creation.
 */
export class Tables {
  /** Tables made or checked, by name (AccessBroker.tables). */
  readonly known: Record<string, TableInfo> = {};
  readonly #db: SharedDatabase;
  readonly #lifecycle: Lifecycle;
  readonly #submitter: Submitter;

  constructor(db: SharedDatabase, lifecycle: Lifecycle, submitter: Submitter) {
    this.#db = db;
    this.#lifecycle = lifecycle;
    this.#submitter = submitter;
  }

  /** See AccessBroker.table. */
  async ensure(name: string, columns: readonly ColumnSpec[], options: TableOptions | undefined): Promise<TableInfo> {
    const info = checkTableSpec(name, columns, options);
    const evolve = options?.evolve ?? false;
    await this.#lifecycle.ready(`table(${name})`);
    // Only creations under way are shared: a later call checks the catalog
    // again (the table may have been dropped, or a creation rolled back).
    const pending = this.#db.tables.get(name);
    if (pending && sameSpec(pending.info, info)) return (this.known[name] = await pending.done);
    const entry = {
      info,
      done: pending
        ? pending.done.catch(() => undefined).then(() => this.#create(info, evolve))
        : this.#create(info, evolve),
    };
    this.#db.tables.set(name, entry);
    try {
      this.known[name] = await entry.done;
      return info;
    } finally {
      if (this.#db.tables.get(name) === entry) this.#db.tables.delete(name);
    }
  }

  async #create(info: TableInfo, evolve: boolean): Promise<TableInfo> {
    const { dialect } = this.#db;
    // The dialect begins the transaction (autocommit: no BEGIN here) so that
    // other processes creating the same tables wait for this one.
    const creation = this.#submitter.transaction(
      (tx) => dialect.ddlTransaction(tx.queryRunner!, () => ensureTable(tx.queryRunner!, dialect, info, evolve)),
      { doNext: true, retry: 2 },
      `table(${info.name})`,
      { internal: true, autocommit: true },
    );
    await lastValueFrom(creation, { defaultValue: undefined }).catch((err: unknown) => {
      // The table is there but not as its spec says: that, not the rolled-back transaction around it, is the news.
      throw err instanceof TransactionError && err.cause instanceof SchemaDriftError ? err.cause : err;
    });
    return info;
  }
}

function sameSpec(a: TableInfo, b: TableInfo): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
