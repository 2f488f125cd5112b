import type { Dialect } from '../dialect';
import { bindPostgres } from './bind';
import { openPgAdvisoryLocks } from './advisory-lock';
import { openPgBus } from './bus';
import { connectionStats, streamSlots, transactionSlots } from './pool';
import { destroy, discard, interrupt, prepareConnection } from './connection';
import { postgresCursors } from './cursor';
import { pgDdlTransaction, pgIndexNames } from './ddl';
import { lostConnection } from './lost-connection';
import { placeholder } from './placeholders';
import { readPostgresTables } from './read-tables';
import { postgresStatements } from './statements';
import { postgresTarget } from './target';
import { postgresTransactions } from './transactions';
import { columnType } from './types';

/** postgres, through TypeORM's postgres driver and node-postgres. */
export const postgresDialect: Dialect = {
  name: 'postgres',
  capabilities: {
    gatesOutsideCalls: false,
    destroysConnections: true,
    detectsLostConnections: true,
    crossProcessNotices: true,
    pipelinesStatements: true,
    advisoryLocks: true,
  },
  ...postgresTarget,
  transactionSlots,
  streamSlots,
  connectionStats,
  prepareConnection,
  interrupt,
  discard,
  destroy,
  lostConnection,
  ...postgresCursors,
  ...postgresStatements,
  ...postgresTransactions,
  bindParameters: bindPostgres,
  placeholder,
  openBus: openPgBus,
  // Cache regions' cross-process lock (lib/cache): session locks that die with their connection.
  openAdvisoryLocks: openPgAdvisoryLocks,
  columnType,
  // In the DataSource's schema, where TypeORM creates the table and its indexes.
  indexNames: pgIndexNames,
  // Table creation under an advisory lock, so that processes starting at once do not collide.
  ddlTransaction: pgDdlTransaction,
  readTables: readPostgresTables,
};
