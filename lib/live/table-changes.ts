// Placeholder until the capture branch lands (issue 14): replaced by its table-changes.ts.
import type { AccessBroker } from '../broker/access-broker';
import type { TableRef } from '../dialect/dialect-live';

export interface TableListener {
  changed(tables: readonly TableRef[]): void;
  resync(): void;
}

export function watchTables(
  _broker: AccessBroker,
  _tables: readonly TableRef[],
  _listener: TableListener,
): { positioned: Promise<void>; stop(): void } {
  return { positioned: Promise.reject(new Error('not yet')), stop: () => undefined };
}
