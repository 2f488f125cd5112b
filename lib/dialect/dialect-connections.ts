import type { DataSource, QueryRunner } from 'typeorm';

/** How a DataSource's connections are being used. */
export interface ConnectionStats {
  /** Connections that exist (open). */
  readonly open: number;
  /** Of those, how many are idle. */
  readonly idle: number;
  /** Callers waiting for a connection. */
  readonly waiting: number;
  /** The most connections there may be. */
  readonly max: number;
}

/** A connection that was lost, as {@link DialectConnections.lostConnection} tells it. */
export interface LostConnection {
  /** The driver's error that says so (with its code). */
  readonly error: unknown;
  /** The connection was never opened: nothing was run on it. */
  readonly connecting: boolean;
}

/** The broker's queue, as {@link DialectConnections.gateOutsideCalls} sees it. */
export interface OutsideGate {
  /**
   * Asked as a caller makes a runner: undefined when the caller may use the
   * connection at once (sasync's own work, holding the slot already);
   * otherwise the function that takes the slot, to call at the runner's first
   * statement in the caller's context, resolving with the function that gives
   * it back.
   */
  claim(): (() => Promise<() => void>) | undefined;
}

/** How many connections there are, and what happens to one that fails or hangs. */
export interface DialectConnections {
  /** How many transactions may run at once; the rest of the pool is kept for streams. */
  transactionSlots(ds: DataSource): number;
  /**
   * How many row streams may hold a connection of their own at once. 0: the
   * database has one connection (sqlite in memory), so a stream holds the
   * transaction slot instead and reads on that connection.
   */
  streamSlots(ds: DataSource): number;
  connectionStats(ds: DataSource): ConnectionStats;
  /**
   * Sets up a DataSource once it is initialized; returns what takes that
   * back (called when sasync leaves a DataSource it did not make, which its
   * owner goes on using). `adopted`: an app's own DataSource, whose owner's
   * statements sasync must not change (no automatic prepared statements).
   */
  prepareConnection(ds: DataSource, adopted: boolean): () => void;
  /**
   * Interrupts the statement the runner is running, if one is, so that a
   * cancelled transaction rolls back now rather than after a long query.
   * Resolves true when it interrupted something: the caller must then
   * {@link discard} the runner after rolling back.
   */
  interrupt(runner: QueryRunner): Promise<boolean>;
  /**
   * Gives up a runner whose ROLLBACK failed, so that the connection is never
   * reused in an unknown transaction state.
   */
  discard(runner: QueryRunner, error: unknown): Promise<void>;
  /**
   * Destroys the runner's connection at once, without a word to the server
   * (the server rolls back when it notices), for a cancelled transaction
   * whose ROLLBACK does not come back: a frozen or unreachable server must
   * not hold the queue. Waits for a connection still being opened (bounded by
   * the connect timeout). Present when `capabilities.destroysConnections`;
   * absent where a connection cannot be given up apart (sqlite's one): the
   * caller then waits for the ROLLBACK.
   */
  destroy?(runner: QueryRunner): Promise<void>;
  /**
   * Whether `error` means that a connection was lost or could not be opened
   * (the server terminated the backend, shut down or restarted; the network
   * dropped): then the driver's error that says so, with its code. With a
   * runner, also a call that failed because its connection had died before
   * (TypeORM's "already released"), and with no error, whether the runner's
   * connection is dead now. Undefined for any other error. Present when
   * `capabilities.detectsLostConnections`.
   */
  lostConnection?(runner: QueryRunner | undefined, error: unknown): LostConnection | undefined;
  /**
   * Where every transaction shares one connection (sqlite): makes TypeORM
   * calls on the initialized DataSource from outside sasync's work (say
   * `dataSource.manager.save()`) wait for the queue's slot, so that they run
   * on their own rather than inside sasync's running transaction. Present
   * when `capabilities.gatesOutsideCalls`; absent where each runner has a
   * connection of its own. Returns what takes the gate off again.
   */
  gateOutsideCalls?(ds: DataSource, gate: OutsideGate): () => void;
}
