import { AccessBroker } from '../broker/access-broker';
import type { DatabaseTarget } from '../target';
import type { StoreTable } from './tables';

/** sAsync's Transactor: the broker of a store, which makes its table at start-up. */
export class StoreBroker extends AccessBroker {
  readonly #spec: StoreTable;

  constructor(spec: StoreTable, target: DatabaseTarget | undefined, name: string) {
    super(target, { name });
    this.#spec = spec;
  }

  protected override async startup(): Promise<void> {
    await this.table(this.#spec.name, this.#spec.columns, this.#spec.options);
  }
}
