import { untilAborted, type CancelToken } from '../cancel';
import { collect } from './collect';
import { endedError, TransactionContext } from './context';
import { cancelled, failed } from './failure';
import type { TransactionSpec } from './transaction-spec';

/**
 * Runs work inside an open transaction, in a SAVEPOINT: a failure rolls back
 * only this part and the outer transaction goes on. If the outer transaction
 * ends first, the savepoint leaves the connection alone and fails. Cancelled
 * through `token` (its subscriber left), it rolls back to the savepoint and
 * fails with a CancelledError. The connection stays the outer transaction's.
 */
export function runSavepoint(spec: TransactionSpec, outer: TransactionContext, token: CancelToken): Promise<unknown[]> {
  return outer.withSavepoint(async () => {
    if (!outer.open) throw endedError();
    const { runner } = outer;
    const ctx = new TransactionContext(outer.db, runner, spec.parent, outer);
    // Inside a transaction, TypeORM's startTransaction makes a SAVEPOINT.
    await runner.startTransaction();
    try {
      const values = await untilAborted(
        ctx.run(() => collect(spec.work(ctx.manager), undefined, token)),
        token,
      );
      ctx.close();
      if (!outer.open) throw endedError();
      await runner.commitTransaction();
      return values;
    } catch (err) {
      ctx.close();
      if (outer.open) await runner.rollbackTransaction();
      throw token.aborted ? cancelled(spec, token.reason, 1) : failed(spec, err, 1);
    }
  });
}
