import type { DataSource, QueryRunner } from 'typeorm';

/** How a transaction is made read-only (`transact(work, { readOnly: true })`). */
export interface DialectReadOnly {
  /**
   * Makes the runner's transaction, just begun, refuse writes (postgres:
   * `SET TRANSACTION READ ONLY`, sent with BEGIN; sqlite: `PRAGMA
   * query_only`). Resolves with what lifts that again before COMMIT or
   * ROLLBACK, or undefined when it ends with the transaction (postgres).
   */
  beginReadOnly(runner: QueryRunner): Promise<(() => Promise<void>) | undefined>;
  /** The driver's code when `error` is its refusal of a write in a read-only transaction (25006, SQLITE_READONLY). */
  readOnlyRefusal(error: unknown): string | undefined;
}

/** What a replica's state is, as a probe reads it. */
export interface ReplicaState {
  /** pg_is_in_recovery(): false for a primary (a server promoted, or the wrong URL). */
  readonly inRecovery: boolean;
  /** pg_last_wal_replay_lsn(), as a number; undefined when the server replays nothing. */
  readonly replayed: bigint | undefined;
  /** When the server started: a restarted replica may have replayed less than it had. */
  readonly startedAt: string;
}

/** A session of its own on a replica, for reading its state (never a pooled connection). */
export interface ReplicaProbe {
  /** One round trip. @throws the driver's error when the server cannot be reached. */
  state(): Promise<ReplicaState>;
  /** Ends the session. */
  close(): Promise<void>;
}

/** What reads on streaming replicas need from a dialect (postgres). */
export interface DialectReplication {
  /**
   * Records where the WAL stands after each commit on `ds`'s connections,
   * with no round trip of its own: right behind each COMMIT (and each
   * statement in autocommit but reads, see isRead), `pg_current_wal_insert_lsn()` goes out in the
   * same pipeline, and `onCommit` gets, as the COMMIT goes out, the promise of
   * that position (rejecting when it could not be read). Returns what stops it.
   */
  trackCommits(ds: DataSource, onCommit: (position: Promise<bigint>) => void): () => void;
  /** The primary's WAL position now, on a pooled connection of `ds`. */
  currentPosition(ds: DataSource): Promise<bigint>;
  /** A probe of the replica `ds` points at (its pool's connection settings), opened at its first use. */
  openProbe(ds: DataSource): ReplicaProbe;
  /** A WAL position as postgres writes it (`16/B374D848`), and back; undefined for malformed text. */
  formatPosition(position: bigint): string;
  parsePosition(text: string): bigint | undefined;
  /**
   * Whether a statement surely only reads (one SELECT, WITH, VALUES or TABLE
   * with no word that may write or lock): it may run on a replica, and in
   * autocommit it commits nothing. Conservative: a function that writes,
   * called from a SELECT, is not seen (the replica refuses it, and the
   * router runs it again on the primary, in a transaction).
   */
  isRead(sql: string): boolean;
  /**
   * Whether a failure on a replica means the read can run on the primary
   * instead, and why: 'refused' (it tried to write: 25006; or a recovery
   * conflict cancelled it), else undefined.
   */
  replicaRefusal(error: unknown): 'refused' | undefined;
}
