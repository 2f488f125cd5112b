import type { DataSource, EntityManager, ObjectLiteral } from 'typeorm';
import type { WorkResult } from '../broker/run';
import type { busAccess } from '../broker/store-access';
import type { BusOptions, ChangeBus } from '../dialect';
import type { ColumnSpec } from '../schema/column';
import type { TableInfo, TableOptions } from '../schema/table-spec';
import type { Awaitable } from '../transaction/awaitable';
import type { TransactOptions } from '../transaction/options';

/**
 * What live queries use of an AccessBroker: an interface, so that broker/
 * (whose `live()` starts them) and live/ depend on each other one way.
 * Every AccessBroker is one.
 */
export interface LiveBroker {
  readonly dialect: 'sqlite' | 'postgres';
  readonly dataSource: DataSource;
  readonly running: boolean;
  waitUntilRunning(): Promise<void>;
  /** The rows as the driver gives them (callers name their type). */
  query(sql: string, parameters?: readonly unknown[], options?: TransactOptions): Awaitable<ObjectLiteral[]>;
  transact<R>(work: (tx: EntityManager) => WorkResult<R>, options?: TransactOptions): Awaitable<NoInfer<R>>;
  table(name: string, columns: readonly ColumnSpec[], options?: TableOptions): Promise<TableInfo>;
  [busAccess](options: BusOptions): Promise<ChangeBus>;
}
