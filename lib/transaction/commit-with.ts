import { markCommitBehind } from '../dialect/commit-behind';
import { TransactionError } from '../errors';
import { endedError, endedManager, transactionOf } from './context';

/**
 * Runs a transaction's last statement and commits it: on postgres COMMIT
 * goes out right behind the statement, in the same round trip, instead of
 * after the work returns (one round trip fewer per transaction; a
 * transaction of one statement takes one round trip in all, BEGIN
 * included). Resolves with the statement's result, as `tx.query(sql,
 * parameters)` would, once the transaction has committed; the work should
 * then only return.
 *
 *     broker.transact(async (tx) => {
 *       const [{ id }] = await tx.query('INSERT INTO t (v) VALUES ($1) RETURNING id', [v]);
 *       return commitWith(tx, 'SELECT * FROM t WHERE id = $1', [id]);
 *     });
 *
 * The same on sqlite, where there is no round trip to spare: the statement,
 * then COMMIT. A COMMIT that fails (a serialization failure, a deferred
 * constraint) rejects here, and `retry` re-runs the transaction as for any
 * other failure. If the statement fails, the transaction is rolled back and
 * this rejects with the statement's error: catching it does not save the
 * transaction (it fails with that error even if the work returns).
 *
 * After it, the transaction takes no more statements (a TransactionError
 * says it has ended). Work that throws after it resolved has committed
 * anyway: its transaction fails with a TransactionError whose `committed`
 * is true, and is never re-run.
 *
 * COMMIT waits for the statement's answer as usual (the result is the same,
 * one round trip later) where sending it behind is not safe: an app's own
 * DataSource (its pool may go through a pooler) and a DataSource with a
 * TypeORM subscriber that has `beforeTransactionCommit` (which may send
 * statements of its own before COMMIT).
 *
 * @param tx the manager the transaction's work was given (in a
 *   `@transact` method, `this.tx`).
 * @param sql one statement.
 * @throws TypeError if `tx` is not the manager of a transaction whose work
 *   is calling, or `sql` is not a string.
 * @throws TransactionError in a `{ savepoint: true }` part or a joined
 *   nested transaction (commitWith ends the whole transaction: only its
 *   own work may), while a nested part is running, and once the transaction
 *   has ended.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- as TypeORM's query(): rows of the caller's shape
export async function commitWith<T = any>(tx: unknown, sql: string, parameters?: readonly unknown[]): Promise<T> {
  const ctx = transactionOf(tx);
  if (!ctx) {
    if (endedManager(tx)) throw endedError(typeof sql === 'string' ? sql : undefined);
    throw new TypeError(
      'commitWith(tx, sql, parameters) takes the manager a transaction’s work was given, called from that work: ' +
        'broker.transact(async (tx) => … commitWith(tx, …)), or this.tx in a @transact method',
    );
  }
  if (typeof sql !== 'string') throw new TypeError(`commitWith() takes the statement as a string, not ${typeof sql}`);
  if (parameters !== undefined && !Array.isArray(parameters)) {
    throw new TypeError('commitWith() takes the statement’s parameters as an array');
  }
  if (!ctx.open) throw endedError(sql);
  const { committer } = ctx;
  if (!committer || ctx.joinedRunning > 0 || ctx.openSavepoints > 0) {
    throw new TransactionError(
      'commitWith() commits the whole transaction, so only its own work may call it, with no nested part running: ' +
        (committer
          ? 'a nested transaction or { savepoint: true } part is still running: await it first'
          : 'not in a { savepoint: true } part (use tx.query there)'),
      { sql, dialect: ctx.db.dialect.name },
    );
  }
  const values = parameters ? [...parameters] : [];
  const behind = ctx.db.dialect.commitsWithLastStatement(ctx.runner);
  if (behind) {
    // From here on COMMIT may be on the wire: a lost connection or a cancellation leaves the outcome unknown.
    committer.arm();
    markCommitBehind(values);
  }
  // Called before the transaction closes: the statement passes the guard, and every later one is refused.
  const statement = ctx.manager.query(sql, values) as Promise<T>;
  ctx.close();
  let result: T;
  try {
    result = await statement;
  } catch (err) {
    // Rolled back, with this error, whatever the work does next.
    committer.fail(err);
    throw err;
  }
  // sasync's own COMMIT, outside the work's transaction (which the guard now refuses).
  await ctx.runOutside(() => committer.commit());
  return result;
}
