import { collect } from './collect';
import type { TransactionContext } from './context';
import { failed } from './failure';
import type { TransactionSpec } from './transaction-spec';

/**
 * Runs work in the outer transaction as part of it (sAsync's nesting): no
 * BEGIN or COMMIT of its own, nothing to release; its failure rejects into
 * the outer work, which may catch it (on postgres a failed statement has
 * aborted the whole transaction by then: use `{ savepoint: true }`).
 */
export async function runJoined(spec: TransactionSpec, outer: TransactionContext): Promise<unknown[]> {
  try {
    // Awaited inside the try: work that throws synchronously fails like work that rejects.
    return await outer.joined(() => collect(spec.work(outer.manager)));
  } catch (err) {
    throw failed(spec, err, 1);
  }
}
