import { catchError, from, isObservable, throwError, type Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { readOnlyOf } from '../dialect/replicas';
import { driverFields } from '../dialect/driver-error';
import { ReadOnlyError, TransactionError } from '../errors';
import { Awaitable } from '../transaction/awaitable';
import { collect } from '../transaction/collect';
import { currentContext } from '../transaction/context';
import type { TransactOptions } from '../transaction/options';
import type { Work } from '../transaction/run-transaction';
import type { Submitter } from '../transaction/submit';

/**
 * `work` made to run in a read-only transaction (see ReadOnlyReadOptions.readOnly):
 * the dialect's read-only mode is set before it runs, and a write it tries
 * fails it with ReadOnlyError. Where the mode must be lifted before COMMIT
 * (sqlite's connection-wide pragma), an Observable or RowStream the work
 * returns is read to its end first, with the mode on.
 */
export function readOnlyWork(db: SharedDatabase, work: Work): Work {
  const readOnly = readOnlyOf(db.dialect.name);
  return async (tx: EntityManager) => {
    const end = await readOnly.beginReadOnly(tx.queryRunner!);
    try {
      const result = work(tx);
      // (An Observable is the transaction's to read: awaiting an Awaitable would keep only its last value.)
      if (!end) return isObservable(result) ? result : await result;
      return from(await collect(result));
    } catch (err) {
      throw refusal(db, err) ?? err;
    } finally {
      await end?.();
    }
  };
}

/** A ReadOnlyError for the driver's refusal of a write, if `err` is one. */
function refusal(db: SharedDatabase, err: unknown): ReadOnlyError | undefined {
  if (err instanceof ReadOnlyError) return err;
  const code = readOnlyOf(db.dialect.name).readOnlyRefusal(err);
  if (!code) return undefined;
  const reason = err instanceof Error ? err.message : String(err);
  return new ReadOnlyError(`the statement writes, and ${db.dialect.name} refused it (${reason})`, {
    sql: driverFields(err).sql,
    code,
    cause: err,
    inTransaction: true,
  });
}

/**
 * The error a read-only transaction's subscriber gets: the ReadOnlyError
 * itself rather than the TransactionError around it (it says already that
 * nothing was changed); a refusal in work the transaction ran on (an
 * Observable it returned) is made one too.
 */
export function surfaceReadOnly<T>(db: SharedDatabase, source: Observable<T>): Observable<T> {
  return source.pipe(
    catchError((err: unknown) => {
      if (err instanceof TransactionError && err.cause instanceof ReadOnlyError) return throwError(() => err.cause);
      return throwError(() => refusal(db, err) ?? err);
    }),
  );
}

/**
 * `transact(work, { readOnly: true })` on `db`: in a read-only transaction of
 * its own, or, inside a transaction on `db` already, as part of it (joined
 * work takes the outer transaction as it is).
 */
export function readOnlyTransaction(
  db: SharedDatabase,
  submitter: Submitter,
  work: Work,
  options: TransactOptions,
  method: string | undefined,
): Awaitable<unknown> {
  return new Awaitable<unknown>((subscriber) => {
    if (currentContext(db)) return submitter.transaction(work, options, method).subscribe(subscriber);
    return surfaceReadOnly(db, submitter.transaction(readOnlyWork(db, work), options, method)).subscribe(subscriber);
  });
}
