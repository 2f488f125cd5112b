import { untilAborted, type CancelToken } from '../cancel';
import { commitTransaction, startTransaction } from '../dialect/typeorm/transaction-calls';
import type { CancelledError } from '../errors';
import { abandon, rollback } from './cleanup';
import { collect } from './collect';
import { guardRunner, TransactionContext, type Committer } from './context';
import {
  cancelled,
  cancelledDuringCommit,
  connectionLost,
  failed,
  failedAfterCommit,
  savepointStillOpen,
} from './failure';
import { backoff, pause, retryable } from './retry';
import { callAsHolder } from './slot';
import type { TransactionSpec } from './transaction-spec';

export type { RetryListener, TransactionSpec, Work } from './transaction-spec';
export { collect } from './collect';
export { runJoined } from './run-joined';
export { runSavepoint } from './run-savepoint';

/**
 * Runs a whole transaction: BEGIN on a fresh connection, the work, COMMIT;
 * on failure ROLLBACK, and with `retry`, again from the start after a
 * serialization failure. Resolves with every value the work produced, only
 * after COMMIT. Rejects with a TransactionError once rolled back, or,
 * when `token` aborts, with a {@link CancelledError} (a TimeoutError when its
 * `timeout` ran out), reported to the caller at once through the token while
 * the ROLLBACK goes on. Whatever happens, the connection is released before
 * it settles.
 */
export async function runTransaction(given: TransactionSpec, token: CancelToken): Promise<unknown[]> {
  // A statement that a timeout or signal may cancel runs in a transaction of
  // its own: cancelled while it runs (or waits for a lock: sqlite's busy wait
  // does not heed an interrupt), it is rolled back rather than left to commit
  // by itself after its caller was told it did not.
  const cancellable = given.options.timeout !== undefined || given.options.signal !== undefined;
  const spec = given.autocommit && cancellable ? { ...given, autocommit: false } : given;
  const attempts = 1 + (spec.options.retry ?? 0);
  // Rows of a returned RowStream already delivered cannot be taken back: such
  // a transaction is never re-run, or its subscriber would get them twice.
  let emitted = false;
  const emit = spec.emit && ((value: unknown) => ((emitted = true), spec.emit!(value)));
  // Made once, not per attempt.
  const each: TransactionSpec = { ...spec, emit };
  const state: AttemptState = { attempt: 1, committing: false, done: false };
  // The caller hears of a cancellation at once, even if the server does not
  // answer: the cleanup (ROLLBACK, or destroying the connection) goes on
  // after, holding the queue slot until it is done.
  let reported: CancelledError | undefined;
  const stopReporting = token.onAbort(() => {
    if (state.done) return;
    const error = cancelledIn(spec, token, state);
    if (token.report(error)) reported = error;
  });
  try {
    for (let attempt = 1; ; attempt++) {
      state.attempt = attempt;
      state.committing = false;
      try {
        return await runOnce(each, token, state);
      } catch (err) {
        // Committed from inside the work (commitWith()), which failed after: kept, never re-run.
        if (state.done) throw failedAfterCommit(spec, err, attempt);
        if (token.aborted) throw reported ?? cancelledIn(spec, token, state);
        if (attempt < attempts && !emitted && retryable(spec, err)) {
          spec.retries?.retried(attempt, err);
          await pause(backoff(attempt), token).catch(() => undefined);
          if (token.aborted) throw reported ?? cancelledIn(spec, token, state);
          continue;
        }
        throw failed(spec, err, attempt);
      }
    }
  } finally {
    stopReporting();
  }
}

/** Where an attempt is: a cancellation while COMMIT is on the wire leaves the outcome unknown. */
interface AttemptState {
  attempt: number;
  committing: boolean;
  /** COMMIT returned (or the statement, in autocommit): too late to cancel. */
  done: boolean;
}

/** One attempt, on a connection of its own, released before it settles. */
async function runOnce(spec: TransactionSpec, token: CancelToken, state: AttemptState): Promise<unknown[]> {
  const { db } = spec;
  if (token.aborted) throw token.reason;
  // As the job holding the slot: where outside calls wait for the queue, this one must not.
  const runner = callAsHolder(spec.holder, () => db.dataSource.createQueryRunner());
  guardRunner(runner, db.dialect);
  // sqlite's one runner must not carry an earlier transaction's state into this one.
  if (runner.isTransactionActive) await db.dialect.discard(runner, undefined);
  const ctx = new TransactionContext(db, runner, spec.parent);
  db.running.add(token);
  try {
    // A statement in autocommit is durable once it ran: not even started on a
    // sqlite file deleted or replaced meanwhile (its WAL may now serve another
    // file). A transaction is checked before COMMIT, which is enough.
    if (spec.autocommit) {
      const before = db.dialect.verifyWritable(runner);
      if (before) await before;
    }
    // Waiting for a connection or for BEGIN ends with a cancellation: the server may not answer.
    if (!spec.autocommit)
      await untilAborted(
        startTransaction(runner, db.dialect.name, db.dialect.isolation(spec.options.isolation)),
        token,
      );
    // Cancelled while waiting for the connection or BEGIN: the work never starts.
    if (token.aborted) throw token.reason;
    // The COMMIT step, once: after the work, or from inside it (commitWith()), which the step after shares.
    const step = new CommitStep(spec, ctx, token, state);
    if (!spec.autocommit) ctx.committer = step;
    const values = await untilAborted(
      ctx.run(() => collect(spec.work(ctx.manager), spec.emit, token), spec.holder),
      token,
    );
    await step.commit();
    return values;
  } catch (err) {
    ctx.close();
    // With a savepoint still open, TypeORM's ROLLBACK would only roll back to
    // the savepoint: discarding the connection ends the whole transaction.
    const nested = ctx.openSavepoints > 0;
    if (token.aborted) await abandon(db, runner, nested, err);
    else {
      // Asked before the ROLLBACK, which gives a dead connection up.
      const lost = db.dialect.lostConnection?.(runner, err);
      if (!nested && runner.isTransactionActive) await rollback(db, runner);
      if (nested) await db.dialect.discard(runner, err).catch(() => undefined);
      if (lost) throw connectionLost(spec, lost.error, lost.connecting, state.committing && !lost.connecting);
    }
    throw err;
  } finally {
    db.running.delete(token);
    await runner.release();
  }
}

/**
 * An attempt's COMMIT step, run once: after the work, or from inside it
 * (commitWith(), through the transaction's `committer`), the step after the
 * work then sharing its outcome.
 */
class CommitStep implements Committer {
  #done: Promise<void> | undefined;

  constructor(
    private readonly spec: TransactionSpec,
    private readonly ctx: TransactionContext,
    private readonly token: CancelToken,
    private readonly state: AttemptState,
  ) {}

  /** COMMIT is about to go out behind the last statement: a loss or cancellation from now leaves the outcome unknown. */
  arm(): void {
    this.state.committing = true;
  }

  /** The last statement failed: the step fails with its error, whatever the work does next. */
  fail(error: unknown): void {
    (this.#done ??= Promise.reject(error as Error)).catch(() => undefined);
  }

  commit(): Promise<void> {
    return (this.#done ??= this.#run());
  }

  /** Checks that what the work wrote would be kept, then COMMIT (none in autocommit), marking the attempt done. */
  async #run(): Promise<void> {
    const { spec, ctx, token, state } = this;
    const { db, runner } = ctx;
    if (ctx.openSavepoints > 0) throw savepointStillOpen(spec);
    ctx.close();
    // Not acknowledged if it would be lost (a sqlite file deleted or replaced meanwhile): rolled back instead.
    const verified = db.dialect.verifyWritable(runner);
    if (verified) await untilAborted(verified, token);
    // A connection that died meanwhile: say so, and that COMMIT was never sent (so it may be re-run).
    const gone = db.dialect.lostConnection?.(runner, undefined);
    if (gone) throw gone.error;
    // Cancelled (and told so) while it checked: COMMIT must not go out now.
    if (token.aborted) throw token.reason;
    if (!spec.autocommit) {
      state.committing = true;
      await committed(commitTransaction(runner), token, state);
    }
    state.done = true;
  }
}

/**
 * `commit` (COMMIT sent), unless `token` aborts first (as {@link untilAborted}),
 * marking the attempt done the moment COMMIT returns: one Promise and one
 * then() for both, not a then() for the mark and another for the wait.
 */
function committed(commit: Promise<void>, token: CancelToken, state: AttemptState): Promise<void> {
  if (token.aborted)
    return untilAborted(
      commit.then(() => void (state.done = true)),
      token,
    );
  return new Promise<void>((resolve, reject) => {
    const stop = token.onAbort((reason) => reject(reason as Error));
    commit.then(
      () => {
        state.done = true;
        stop();
        resolve();
      },
      (err: unknown) => {
        stop();
        reject(err as Error);
      },
    );
  });
}

/** The error of a transaction cancelled at this point of its attempt. */
function cancelledIn(spec: TransactionSpec, token: CancelToken, state: AttemptState): CancelledError {
  return state.committing && !spec.autocommit
    ? cancelledDuringCommit(spec, token.reason, state.attempt)
    : cancelled(spec, token.reason, state.attempt);
}
