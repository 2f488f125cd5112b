import { AccessBroker } from '../broker/access-broker';
import type { DatabaseTarget } from '../target';
import { CHANGES_TABLE } from '../changes/log-table';
import type { StoreTable } from './tables';

/** sAsync's Transactor: the broker of a store, which makes its table and the change log at start-up. */
export class StoreBroker extends AccessBroker {
  readonly #spec: StoreTable;

  constructor(spec: StoreTable, target: DatabaseTarget | undefined, name: string) {
    super(target, { name });
    this.#spec = spec;
  }

  protected override async startup(): Promise<void> {
    // sasync's own tables follow its versions: what an older build made without an index or column gets it.
    await this.table(this.#spec.name, this.#spec.columns, { ...this.#spec.options, evolve: true });
    await this.ensureLog();
  }

  /** Makes the change log table if it is missing (at start-up, and after a reader found it gone). */
  async ensureLog(): Promise<void> {
    await this.table(CHANGES_TABLE.name, CHANGES_TABLE.columns, { ...CHANGES_TABLE.options, evolve: true });
  }
}
