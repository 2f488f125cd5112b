import { isObservable, toArray, type Observable } from 'rxjs';
import type { EntityManager, QueryRunner } from 'typeorm';
import { ConnectionLostError, TransactionError } from '../errors';
import { RowStream } from '../rows/row-stream';
import type { CancelToken } from '../cancel';
import { endedError, guardRunner, TransactionContext } from './context';
import type { TransactOptions } from './options';
import type { SharedDatabase } from '../broker/registry';

/** What a transaction runs: it may return a value, a Promise or an Observable. */
export type Work = (tx: EntityManager) => unknown;

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
}

/**
 * Runs a whole transaction: BEGIN on a fresh connection, the work, COMMIT;
 * on failure ROLLBACK, and with `retry`, again from the start after a
 * serialization failure. Resolves with every value the work produced, only
 * after COMMIT; rejects with a {@link TransactionError} once rolled back.
 * Whatever happens, the connection is released before it settles.
 */
export async function runTransaction(given: TransactionSpec, signal: CancelToken): Promise<unknown[]> {
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
  const state: AttemptState = { attempt: 1, committing: false, done: false };
  // The caller hears of a cancellation at once, even if the server does not
  // answer: the cleanup (ROLLBACK, or destroying the connection) goes on
  // after, holding the queue slot until it is done.
  let reported: TransactionError | undefined;
  const stopReporting = signal.onAbort(() => {
    if (state.done) return;
    const error = cancelledIn(spec, signal, state);
    if (signal.report(error)) reported = error;
  });
  try {
    for (let attempt = 1; ; attempt++) {
      state.attempt = attempt;
      state.committing = false;
      try {
        return await runOnce({ ...spec, emit }, signal, state);
      } catch (err) {
        if (signal.aborted) throw reported ?? cancelledIn(spec, signal, state);
        if (attempt < attempts && !emitted && retryable(spec, err)) {
          await pause(backoff(attempt), signal).catch(() => undefined);
          if (signal.aborted) throw reported ?? cancelledIn(spec, signal, state);
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

/**
 * How long a cancelled transaction's cleanup (interrupting its statement,
 * ROLLBACK) may take before its connection is destroyed instead: a server
 * that does not answer (frozen, unreachable) must not hold the queue slot.
 */
const CLEANUP_GRACE_MS = 1000;

async function runOnce(spec: TransactionSpec, signal: CancelToken, state: AttemptState): Promise<unknown[]> {
  const { db } = spec;
  if (signal.aborted) throw signal.reason;
  const runner = db.dataSource.createQueryRunner();
  guardRunner(runner, db.dialect);
  // sqlite's one runner must not carry an earlier transaction's state into this one.
  if (runner.isTransactionActive) await db.dialect.discard(runner, undefined);
  const ctx = new TransactionContext(db, runner, spec.parent);
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
      await untilAborted(runner.startTransaction(db.dialect.isolation(spec.options.isolation)), signal);
    // Cancelled while waiting for the connection or BEGIN: the work never starts.
    if (signal.aborted) throw signal.reason;
    const values = await untilAborted(
      ctx.run(() => collect(spec.work(ctx.manager), spec.emit, signal)),
      signal,
    );
    if (ctx.openSavepoints > 0) throw savepointStillOpen(spec);
    ctx.close();
    // Not acknowledged if it would be lost (a sqlite file deleted or replaced meanwhile): rolled back instead.
    const verified = db.dialect.verifyWritable(runner);
    if (verified) await untilAborted(verified, signal);
    // A connection that died meanwhile: say so, and that COMMIT was never sent (so it may be re-run).
    const gone = db.dialect.lostConnection?.(runner, undefined);
    if (gone) throw gone.error;
    // Cancelled (and told so) while it checked: COMMIT must not go out now.
    if (signal.aborted) throw signal.reason;
    if (!spec.autocommit) {
      state.committing = true;
      const commit = runner.commitTransaction().then(() => void (state.done = true));
      await untilAborted(commit, signal);
    }
    state.done = true;
    return values;
  } catch (err) {
    ctx.close();
    // With a savepoint still open, TypeORM's ROLLBACK would only roll back to
    // the savepoint: discarding the connection ends the whole transaction.
    const nested = ctx.openSavepoints > 0;
    if (signal.aborted) await abandon(db, runner, nested, err);
    else {
      // Asked before the ROLLBACK, which gives a dead connection up.
      const lost = db.dialect.lostConnection?.(runner, err);
      if (!nested && runner.isTransactionActive) await rollback(db, runner);
      if (nested) await db.dialect.discard(runner, err).catch(() => undefined);
      if (lost) throw connectionLost(spec, lost.error, lost.connecting, state.committing && !lost.connecting);
    }
    throw err;
  } finally {
    await runner.release();
  }
}

/**
 * Ends a cancelled transaction: interrupts its statement and rolls back,
 * unless that takes longer than {@link CLEANUP_GRACE_MS}; then the
 * connection is destroyed (the server rolls back when it notices). Where a
 * connection cannot be destroyed apart (sqlite's one), it waits for the
 * ROLLBACK: the next transaction must not run in this one.
 */
async function abandon(db: SharedDatabase, runner: QueryRunner, nested: boolean, err: unknown): Promise<void> {
  const tidy = (async () => {
    const interrupted = await db.dialect.interrupt(runner).catch(() => false);
    if (!nested && runner.isTransactionActive) await rollback(db, runner);
    if (interrupted || nested) await db.dialect.discard(runner, err).catch(() => undefined);
  })().catch(() => undefined);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), CLEANUP_GRACE_MS)));
  const outcome = await Promise.race([tidy, grace]);
  clearTimeout(timer);
  if (outcome !== 'late') return;
  if (db.dialect.destroy) await db.dialect.destroy(runner).catch(() => undefined);
  else await tidy;
}

/**
 * Runs work inside an open transaction, in a SAVEPOINT: a failure rolls back
 * only this part and the outer transaction goes on. If the outer transaction
 * ends first, the savepoint leaves the connection alone and fails.
 */
export function runSavepoint(
  spec: TransactionSpec,
  outer: TransactionContext,
  signal: CancelToken,
): Promise<unknown[]> {
  return outer.withSavepoint(async () => {
    if (!outer.open) throw endedError();
    const { runner } = outer;
    const ctx = new TransactionContext(outer.db, runner, spec.parent, outer);
    await runner.startTransaction();
    try {
      const values = await untilAborted(
        ctx.run(() => collect(spec.work(ctx.manager), undefined, signal)),
        signal,
      );
      ctx.close();
      if (!outer.open) throw endedError();
      await runner.commitTransaction();
      return values;
    } catch (err) {
      ctx.close();
      if (outer.open) await runner.rollbackTransaction();
      throw signal.aborted ? cancelled(spec, signal, 1) : failed(spec, err, 1);
    }
  });
}

/** Runs work in the outer transaction as part of it (sAsync's nesting). */
export async function runJoined(spec: TransactionSpec, outer: TransactionContext): Promise<unknown[]> {
  try {
    // Awaited inside the try: work that throws synchronously fails like work that rejects.
    return await collect(spec.work(outer.manager));
  } catch (err) {
    throw err instanceof TransactionError ? err : failed(spec, err, 1);
  }
}

async function rollback(db: SharedDatabase, runner: QueryRunner): Promise<void> {
  try {
    await runner.rollbackTransaction();
  } catch (err) {
    await db.dialect.discard(runner, err);
  }
}

function savepointStillOpen(spec: TransactionSpec): TransactionError {
  return new TransactionError(
    `${label(spec)} returned while a nested { savepoint: true } part was still running; ` +
      'it was rolled back: await every nested transaction inside the work',
    { method: spec.method, dialect: spec.db.dialect.name },
  );
}

/**
 * The values work produced: one for a value or Promise, each for an
 * Observable. A RowStream (or a Promise of one) is read inside the
 * transaction: with `emit`, each row goes out as it is read and the
 * transaction stays open until the last (sAsync's ResultProxy iteration);
 * without, the rows are collected.
 */
export async function collect(
  result: unknown,
  emit?: (value: unknown) => void,
  token?: CancelToken,
): Promise<unknown[]> {
  const value = isObservable(result) && !(result instanceof RowStream) ? result : await result;
  if (value instanceof RowStream) {
    if (!emit) return gather(value, token);
    await value.consume((row) => emit(row));
    return [];
  }
  if (isObservable(value)) return gather(value, token);
  return [value];
}

/** All values of an Observable; unsubscribed when the transaction is cancelled, so nothing runs on after it. */
function gather(source: Observable<unknown>, token: CancelToken | undefined): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const subscription = source.pipe(toArray()).subscribe({ next: resolve, error: reject });
    const stop = token?.onAbort((reason) => {
      subscription.unsubscribe();
      reject(reason as Error);
    });
    subscription.add(() => stop?.());
  });
}

/** `promise`, unless the token aborts first; then the token's reason. */
function untilAborted<T>(promise: Promise<T>, token: CancelToken): Promise<T> {
  if (token.aborted) {
    promise.catch(() => undefined);
    return Promise.reject(token.reason as Error);
  }
  return new Promise<T>((resolve, reject) => {
    const stop = token.onAbort((reason) => reject(reason as Error));
    promise.then(
      (value) => (stop(), resolve(value)),
      (err: unknown) => (stop(), reject(err as Error)),
    );
  });
}

function pause(ms: number, token: CancelToken): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => (stop(), resolve()), ms);
    const stop = token.onAbort((reason) => (clearTimeout(timer), reject(reason as Error)));
  });
}

/** Randomized, growing pauses, so that two conflicting transactions stop colliding. */
function backoff(attempt: number): number {
  return Math.random() * Math.min(100, 2 ** attempt);
}

function label(spec: TransactionSpec): string {
  const what = spec.autocommit ? 'statement' : 'transaction';
  return spec.method ? `${what} ${spec.method}` : what;
}

/**
 * A lost connection, told as one. Lost before COMMIT was sent, the server
 * rolled the transaction back and `retry` re-runs it; lost while COMMIT (or
 * an autocommit statement) was on the way, the outcome is unknown and it is
 * never re-run.
 */
function connectionLost(
  spec: TransactionSpec,
  cause: unknown,
  connecting: boolean,
  committing: boolean,
): ConnectionLostError {
  return new ConnectionLostError(`running ${label(spec)}`, {
    cause,
    target: spec.db.label,
    connecting,
    duringCommit: !connecting && (committing || spec.autocommit === true),
  });
}

/** Whether re-running may succeed: a serialization failure or deadlock, or a connection lost before COMMIT. */
function retryable(spec: TransactionSpec, err: unknown): boolean {
  if (err instanceof ConnectionLostError) return !err.duringCommit;
  return spec.db.dialect.isRetryable(err);
}

function failed(spec: TransactionSpec, err: unknown, attempts: number): TransactionError {
  if (err instanceof TransactionError && attempts === 1) return err;
  const reason = err instanceof Error ? err.message : String(err);
  const lost = err instanceof ConnectionLostError;
  // A lost connection's message says already what to do.
  const hint =
    !lost && retryable(spec, err)
      ? attempts > 1
        ? ` (still failing after ${attempts} attempts: raise retry or reduce contention)`
        : ' (it may succeed if re-run: pass { retry: 3 })'
      : '';
  const outcome = spec.autocommit || (lost && err.duringCommit) ? 'failed' : 'failed and was rolled back';
  return new TransactionError(`${label(spec)} ${outcome}: ${reason}${hint}`, {
    cause: err,
    method: spec.method,
    dialect: spec.db.dialect.name,
    attempts,
  });
}

/** The error of a transaction cancelled at this point of its attempt. */
function cancelledIn(spec: TransactionSpec, signal: CancelToken, state: AttemptState): TransactionError {
  if (!state.committing || spec.autocommit) return cancelled(spec, signal, state.attempt);
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new TransactionError(
    `${label(spec)} was cancelled while its COMMIT was on the way to the server: ${reason}. ` +
      'Whether it committed is unknown: check before running it again',
    {
      cause: signal.reason,
      method: spec.method,
      dialect: spec.db.dialect.name,
      attempts: state.attempt,
      outcomeUnknown: true,
    },
  );
}

function cancelled(spec: TransactionSpec, signal: CancelToken, attempts: number): TransactionError {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new TransactionError(`${label(spec)} was cancelled and rolled back: ${reason}`, {
    cause: signal.reason,
    method: spec.method,
    dialect: spec.db.dialect.name,
    attempts,
  });
}
