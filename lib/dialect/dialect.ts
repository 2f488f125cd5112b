import type { SchemaIntrospector } from '../schema/introspector';
import type { DialectAdvisoryLocks } from './advisory-locks';
import type { DialectBus } from './change-bus';
import type { DialectConnections } from './dialect-connections';
import type { DialectCursors } from './dialect-cursors';
import type { DialectLive } from './dialect-live';
import type { DialectStatements } from './dialect-statements';
import type { DialectTarget } from './dialect-target';
import type { DialectTransactions } from './dialect-transactions';
import type { DialectValues } from './dialect-values';

export type { AdvisoryLockSession, DialectAdvisoryLocks } from './advisory-locks';
export type { BusListener, BusOptions, BusState, ChangeBus, DialectBus } from './change-bus';
export type { ConnectionStats, DialectConnections, LostConnection, OutsideGate } from './dialect-connections';
export type { CursorCancel, CursorQuery, DialectCursors } from './dialect-cursors';
export type { DialectStatements, PreparedStatement } from './dialect-statements';
export type { DialectTarget, ParsedTarget } from './dialect-target';
export type { DialectTransactions, IsolationLevel } from './dialect-transactions';
export type { DialectValues } from './dialect-values';
export type { SchemaIntrospector } from '../schema/introspector';

/**
 * What a database can do that shared code must know about, as named flags:
 * shared code asks these, never which database it is.
 */
export interface DialectCapabilities {
  /**
   * Every transaction shares one connection (sqlite): TypeORM calls from
   * outside sasync's work wait for the queue ({@link DialectConnections.gateOutsideCalls}).
   */
  readonly gatesOutsideCalls: boolean;
  /**
   * A connection can be given up apart from the others, without waiting for
   * the server ({@link DialectConnections.destroy}).
   */
  readonly destroysConnections: boolean;
  /**
   * A lost connection can be told from other failures
   * ({@link DialectConnections.lostConnection}).
   */
  readonly detectsLostConnections: boolean;
  /** The change bus carries notices between processes (postgres NOTIFY), not only within this one. */
  readonly crossProcessNotices: boolean;
  /**
   * Statements a transaction sends without awaiting each other go out
   * together, written before any answer is read, and each settles with its
   * own answer, in order (postgres: `typeorm/pg-pipeline.ts`; on an app's
   * own DataSource they go one at a time, in order, `typeorm/pg-one-at-a-time.ts`):
   * work whose next statements do not depend on an answer (`produceRows`)
   * sends them ahead. Without it (sqlite: one connection in process) there
   * is no round trip to spare, and such work awaits each statement.
   */
  readonly pipelinesStatements: boolean;
  /**
   * Session-level advisory locks that die with their connection
   * ({@link DialectAdvisoryLocks.openAdvisoryLocks}; postgres): cache
   * regions lock a key across processes with them. Without (sqlite), a
   * lock is a row with a lease.
   */
  readonly advisoryLocks: boolean;
}

/**
 * What sasync needs to know about a database. Shared code asks these
 * questions; only the files under `lib/dialect/` know the answers. Each
 * part is a small interface of its own; every dialect folder implements them
 * in files named alike (target, pool, connection, cursor, statements,
 * transactions, types, ddl, bind, placeholders, bus).
 */
export interface Dialect
  extends
    DialectTarget,
    DialectConnections,
    DialectCursors,
    DialectStatements,
    DialectTransactions,
    DialectValues,
    DialectBus,
    DialectAdvisoryLocks,
    DialectLive,
    SchemaIntrospector {
  readonly name: 'sqlite' | 'postgres';
  readonly capabilities: DialectCapabilities;
}
