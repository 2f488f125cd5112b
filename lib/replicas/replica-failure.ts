import type { DialectReplication } from '../dialect/replicas';
import { ConnectionLostError, DatabaseError, ReadOnlyError } from '../errors';
import type { ReplicaNode } from './replica-node';

/**
 * Whether a read that failed on `node` runs again on the primary: the
 * replica's connection was lost or could not be opened (the replica leaves
 * the rotation), or the replica refused what the primary would take (a
 * write that did not look like one, a recovery conflict). Any other
 * failure (a syntax error, a missing table, a read-only transaction's
 * write) would fail on the primary too, and is the caller's.
 */
export function fallsBack(
  node: ReplicaNode,
  replication: DialectReplication,
  err: unknown,
): 'lost' | 'refused' | undefined {
  if (err instanceof ReadOnlyError && err.inTransaction) return undefined;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof ReadOnlyError && e.inTransaction) return undefined;
    if (e instanceof ConnectionLostError || e instanceof DatabaseError) {
      node.fail(e);
      return 'lost';
    }
  }
  return replication.replicaRefusal(err);
}
