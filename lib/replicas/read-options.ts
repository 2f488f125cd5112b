/** Where a call runs on a replicated target (see {@link ReplicaReadOptions.route}). */
export type Route = 'primary' | 'replica';

/**
 * Options of reads and transactions on a replicated target
 * (`{ primary, replicas }`); on any other target they change nothing but
 * `readOnly`.
 */
export interface ReplicaReadOptions {
  /**
   * `'primary'` runs the call on the primary whatever it is (sAsync's
   * `using_bind`); `'replica'` sends a statement to a replica even when it
   * does not look like a read (a write is then refused there and run on the
   * primary). Default: reads on a replica, the rest on the primary.
   */
  readonly route?: Route;
  /**
   * A consistency token from `broker.consistencyToken()`, perhaps of another
   * process: the read runs on a replica only once it has replayed the
   * commits the token stands for (else on the primary, after
   * `maxReplicaWait`).
   */
  readonly after?: string;
  /**
   * For transactions: the work only reads. It runs in a read-only
   * transaction (postgres `SET TRANSACTION READ ONLY`, sqlite `PRAGMA
   * query_only`), on a replica of a replicated target; a statement that
   * writes fails it with ReadOnlyError, having changed nothing.
   */
  readonly readOnly?: boolean;
}

const ROUTES = new Set<unknown>(['primary', 'replica']);
/** A WAL position as postgres writes it: two hexadecimal numbers of up to 32 bits. */
const TOKEN = /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/;

/**
 * Checks the replica options at call time.
 * @throws RangeError for an unknown route or a malformed token; TypeError for a readOnly that is not a boolean.
 */
export function checkReplicaOptions(options: ReplicaReadOptions): void {
  const { route, after, readOnly } = options;
  if (route !== undefined && !ROUTES.has(route)) {
    throw new RangeError(`route must be 'primary' or 'replica', not ${JSON.stringify(route)}`);
  }
  if (after !== undefined && !(typeof after === 'string' && TOKEN.test(after))) {
    throw new RangeError(
      `after must be a consistency token from broker.consistencyToken() (like '16/B374D848'), not ${JSON.stringify(after)}`,
    );
  }
  if (readOnly !== undefined && typeof readOnly !== 'boolean') {
    throw new TypeError(`readOnly must be true or false, not ${JSON.stringify(readOnly)}`);
  }
}
