import type { BusOptions, ChangeBus } from '../dialect';

/**
 * What the stores need from their broker beyond its public API, reached
 * through a symbol so that it stays off the public surface. Taking it
 * changes nothing of the broker: on a replicated target the stores send
 * their own reads to the primary (`route: 'primary'`), and its other calls
 * are routed as ever.
 */
export interface StoreAccess {
  /** The n-th (1-based) bound-parameter placeholder of the broker's database. */
  placeholder(n: number): string;
  /**
   * The DataSource's change bus, opened on first use with these options
   * (later callers share it as it is) and closed with the DataSource.
   */
  bus(options: BusOptions): Promise<ChangeBus>;
}

export const storeAccess = Symbol('sasync.storeAccess');

/**
 * The DataSource's change bus for live queries (see StoreAccess.bus): a live
 * query's own statements name the primary (`route: 'primary'`), and its
 * broker keeps routing the caller's reads to replicas.
 */
export const busAccess = Symbol('sasync.busAccess');
