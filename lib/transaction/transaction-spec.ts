import type { EntityManager } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import type { TransactionContext } from './context';
import type { SlotHolder } from './slot';
import type { TransactOptions } from './options';

/** What a transaction runs: it may return a value, a Promise or an Observable. */
export type Work = (tx: EntityManager) => unknown;

/** Told when a transaction runs again after a retryable failure (its events$ say so). */
export interface RetryListener {
  /** Attempt `attempt` (from 1) failed with `error`; the next one starts after a pause. */
  retried(attempt: number, error: unknown): void;
}

/** One transaction to run, as the broker hands it over. */
export interface TransactionSpec {
  readonly db: SharedDatabase;
  readonly work: Work;
  readonly options: TransactOptions;
  /** The transaction method's name, for error messages. */
  readonly method: string | undefined;
  /** The context of whoever subscribed, so that nesting across databases chains. */
  readonly parent: TransactionContext | undefined;
  /** Delivers the rows of a RowStream the work returns, as they are read. */
  readonly emit?: (value: unknown) => void;
  /**
   * One statement, atomic by itself: run it without BEGIN/COMMIT (two round
   * trips fewer on postgres), still queued, guarded and retried.
   */
  readonly autocommit?: boolean;
  /** Told of each retry. */
  readonly retries?: RetryListener;
  /**
   * Where outside calls wait for the queue (sqlite): the job's hold of its
   * slot, for its work and its own runner (see SlotHolder).
   */
  readonly holder?: SlotHolder;
}
