import type { Dialect } from '../dialect';
import { gateOutsideCalls } from '../typeorm/outside-calls';
import { bindSqlite } from './bind';
import { openLocalBus } from './bus';
import { discard, interrupt, prepareConnection } from './connection';
import { sqliteCursors } from './cursor';
import { sqliteDdlTransaction, sqliteIndexNames } from './ddl';
import { placeholder } from './placeholders';
import { connectionStats, streamSlots, transactionSlots } from './pool';
import { readSqliteTables } from './read-tables';
import { sqliteStatements } from './statements';
import { sqliteTarget } from './target';
import { sqliteTransactions } from './transactions';
import { columnType } from './types';

/** sqlite, through TypeORM's sqlite driver and node-sqlite3. */
export const sqliteDialect: Dialect = {
  name: 'sqlite',
  capabilities: {
    gatesOutsideCalls: true,
    destroysConnections: false,
    detectsLostConnections: false,
    crossProcessNotices: false,
    pipelinesStatements: false,
    advisoryLocks: false,
  },
  ...sqliteTarget,
  transactionSlots,
  streamSlots,
  connectionStats,
  prepareConnection,
  interrupt,
  discard,
  // One runner for everything: a TypeORM call from outside sasync's work
  // would run inside sasync's running transaction; it waits for the queue.
  gateOutsideCalls,
  ...sqliteCursors,
  ...sqliteStatements,
  ...sqliteTransactions,
  bindParameters: bindSqlite,
  placeholder,
  openBus: () => openLocalBus(),
  columnType,
  indexNames: sqliteIndexNames,
  // Table creation under BEGIN IMMEDIATE, so that processes starting at once do not collide.
  ddlTransaction: sqliteDdlTransaction,
  readTables: readSqliteTables,
};
