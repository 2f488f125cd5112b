import type { QueryRunner } from 'typeorm';

/**
 * The isolation levels a transaction may ask for: the same strings TypeORM's
 * `startTransaction()` takes, declared here so that the core need not import
 * TypeORM's driver types.
 */
export type IsolationLevel = 'READ UNCOMMITTED' | 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

/** How a transaction begins, whether it may be re-run, and whether its writes would be kept. */
export interface DialectTransactions {
  /** The isolation level to ask TypeORM for, given the one the user asked for. */
  isolation(level: IsolationLevel | undefined): IsolationLevel | undefined;
  /** Whether re-running the transaction may succeed (serialization failure, deadlock, busy). */
  isRetryable(error: unknown): boolean;
  /**
   * Called before a write is acknowledged (right before COMMIT, and before an
   * autocommit statement's result is returned): throws if what was written
   * would be lost. sqlite: the database file at the path was deleted or
   * replaced since it was opened (the connection still writes to the old
   * one). postgres: the server already aborted the transaction (the work
   * caught a failed statement and went on), so COMMIT would roll it back.
   * @throws DatabaseError (sqlite) or TransactionError (postgres) saying so, and what to do.
   */
  verifyWritable(runner: QueryRunner): void | Promise<void>;
  /**
   * Whether a statement sent on `runner` with values marked by
   * markCommitBehind() takes COMMIT along in the same round trip (postgres,
   * on a connection that pipelines, with no TypeORM subscriber that acts
   * before a commit). Otherwise COMMIT goes after the statement's answer.
   */
  commitsWithLastStatement(runner: QueryRunner): boolean;
}
