import type { TableRef } from '../dialect/dialect-live';

/** Who hears of committed changes to the tables it watches (see watchTables). */
export interface TableListener {
  /** Committed changes may have touched these (of the tables it watches). Called after the commit. */
  changed(tables: readonly TableRef[]): void;
  /** Changes may have been missed (the log lost or unreadable, retention): the caller re-runs anyway. */
  resync(): void;
}
