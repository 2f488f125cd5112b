import type { CancelledError } from '../errors';

/**
 * How queued work runs: `transaction` between BEGIN and COMMIT (transact(),
 * transaction methods, `@transact`, produceRows, the start-up's first()),
 * `statement` one statement of `query()` or `prepare().query()` (in
 * autocommit, or in a transaction of its own when it has an isolation level,
 * a timeout or a signal), `run` a `run()` function (no transaction: for it,
 * `committed` means it returned and `rolledBack` that it failed).
 */
export type WorkKind = 'transaction' | 'statement' | 'run';

/** What every {@link TransactionEvent} says about the work it is about. */
export interface TransactionEventBase {
  /**
   * One run of the work (one subscription, or one `await`), unique in the
   * process: its events share it, retries included, so that `started` and
   * `committed` pair up.
   */
  readonly id: number;
  /** The broker's name (its `name` option, else its class name). */
  readonly broker: string;
  /**
   * The method: a `@transact` or `transaction()` method's name, the `name`
   * option, `query`, a prepared statement's name, `run`, `produceRows`,
   * `first`; `transact` for unnamed work.
   */
  readonly method: string;
  /** What ran: a transaction, a statement or a run() function. */
  readonly kind: WorkKind;
  /** Its niceness (0 unless given). */
  readonly niceness: number;
  /** Queued with `doNext` (before any niceness). */
  readonly doNext: boolean;
  /** Queued with `doLast` (after any niceness). */
  readonly doLast: boolean;
  /** When it happened: `clock.now()`, milliseconds since the epoch (virtual in tests). */
  readonly time: number;
  /**
   * Which server ran it: `primary` the target's database (the primary of a
   * replicated target `{ primary, replicas }`, the only database of any
   * other target), `replica` one of a replicated target's replicas, where
   * it sends reads (`query()` of a read, a prepared read,
   * `transact(work, { readOnly: true })`); see {@link TransactionEventBase.replica} for which.
   */
  readonly server: 'primary' | 'replica';
  /**
   * On a replica, which one: its index (from 0) in the target's `replicas`
   * list (TypeORM's `replication.slaves`); undefined on the primary.
   */
  readonly replica: number | undefined;
  /**
   * On a replicated target, the `id` of the run on a replica that this run
   * replaces; undefined otherwise. A read that failed on a replica for a
   * reason the primary does not have (its connection was lost, or it
   * refused a write that did not look like one) runs again on the primary
   * as a new run: the replica's run ends with `rolledBack` (its `error`
   * is the replica's failure, which the caller never gets), and this run's
   * `queued` follows it at once, its events all naming the failed run here.
   * The wait for a replica that has replayed what the read must see comes
   * before `queued` and has no event: a call cancelled during it (its
   * `timeout` or `signal`) was never queued, and sends none.
   */
  readonly fallbackOf: number | undefined;
}

/** Submitted: waiting for the broker's start-up, then for a slot of the queue. */
export interface QueuedEvent extends TransactionEventBase {
  /** The discriminant. */
  readonly type: 'queued';
}

/** It has its slot and starts (BEGIN is next). */
export interface StartedEvent extends TransactionEventBase {
  /** The discriminant. */
  readonly type: 'started';
  /** Milliseconds from `queued` to now. */
  readonly queueWait: number;
}

/** Attempt `attempt` failed with a retryable error (`retry` option): it is rolled back and runs again after a pause. */
export interface RetriedEvent extends TransactionEventBase {
  /** The discriminant. */
  readonly type: 'retried';
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  /** The driver's error (a serialization failure, a deadlock, SQLITE_BUSY, a connection lost before COMMIT). */
  readonly error: unknown;
}

/** What the three outcomes say about the whole run. */
export interface OutcomeEvent extends TransactionEventBase {
  /** Milliseconds from `queued` to `started`, or to now if it never started. */
  readonly queueWait: number;
  /** Milliseconds from `started` to now (backoffs between attempts included); undefined if it never started. */
  readonly runTime: number | undefined;
  /** How many attempts ran (0 if it never started). */
  readonly attempts: number;
}

/** COMMIT returned (or the statement, or run()'s function); its subscriber gets the values next. */
export interface CommittedEvent extends OutcomeEvent {
  /** The discriminant. */
  readonly type: 'committed';
  /** Milliseconds from `started` to now (backoffs between attempts included). */
  readonly runTime: number;
}

/**
 * It failed and was rolled back (or, never started, failed while waiting:
 * a failed start-up). The error is the one its subscriber gets; a
 * `ConnectionLostError` with `duringCommit` says the outcome is unknown,
 * and a `TransactionError` with `committed` says it had committed
 * (`commitWith()`) before its work failed: nothing was rolled back.
 */
export interface RolledBackEvent extends OutcomeEvent {
  /** The discriminant. */
  readonly type: 'rolledBack';
  /**
   * What its subscriber got: a TransactionError, ConnectionLostError,
   * BrokerClosedError, …; for a run on a replica that a run on the primary
   * replaced (the next run's `fallbackOf` is this run's `id`), the error it
   * failed with on the replica, which the caller never got.
   */
  readonly error: unknown;
}

/**
 * Cancelled by its timeout, its signal, or its subscriber leaving: dropped
 * from the queue, or rolled back (the rollback may still be going on).
 * `error` is what its subscriber got (a `TimeoutError` for a timeout), or,
 * for an unsubscription, a CancelledError made for the event.
 */
export interface CancelledEvent extends OutcomeEvent {
  /** The discriminant. */
  readonly type: 'cancelled';
  /** What its subscriber got (a TimeoutError for a timeout), or one made for an unsubscription. */
  readonly error: CancelledError;
}

/**
 * What `broker.events$` emits about each piece of work the broker queued:
 * `queued`, `started`, any `retried`, then one of `committed`, `rolledBack`
 * or `cancelled`. Discriminated by `type`.
 */
export type TransactionEvent =
  QueuedEvent | StartedEvent | RetriedEvent | CommittedEvent | RolledBackEvent | CancelledEvent;
