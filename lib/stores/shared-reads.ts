import type { Statement } from './statement';

interface Waiting {
  readonly query: (statement: Statement) => Promise<unknown[]>;
  readonly resolve: (rows: unknown[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Identical reads (same SQL, same parameters) that stores on one DataSource
 * issue in the same turn share one query: after a change log read names
 * keys of a group, every dict on that group re-reads them, and ten dicts
 * cost one SELECT, not ten.
 *
 * Safe because a read is joined only before it is sent (it is sent on the
 * next turn, setImmediate): each caller took its cache mark before calling,
 * so the shared rows are as new as its own query's would be. A read already
 * sent is never joined. The query runs on the first caller's store; if it
 * fails (that store shut down meanwhile, say), each caller runs its own, so
 * no store gets another's error.
 */
export class SharedReads {
  readonly #pending = new Map<string, Waiting[]>();

  run<T>(statement: Statement, query: (statement: Statement) => Promise<T[]>): Promise<T[]> {
    const key = keyOf(statement);
    if (key === undefined) return query(statement);
    let waiting = this.#pending.get(key);
    if (!waiting) {
      const joined: Waiting[] = [];
      this.#pending.set(key, (waiting = joined));
      setImmediate(() => {
        this.#pending.delete(key);
        joined[0]!.query(statement).then(
          (rows) => joined.forEach((w) => w.resolve([...rows])),
          () => joined.forEach((w) => w.query(statement).then(w.resolve, w.reject)),
        );
      });
    }
    const own = waiting;
    return new Promise<T[]>((resolve, reject) => own.push({ query, resolve: resolve as Waiting['resolve'], reject }));
  }
}

/** The statement as a map key; undefined (not shared) when a parameter has no JSON form. */
function keyOf(statement: Statement): string | undefined {
  try {
    return JSON.stringify([statement.sql, statement.parameters]);
  } catch {
    return undefined;
  }
}

const shared = new WeakMap<object, SharedReads>();

/** The shared reads of one DataSource (or whatever object stands for it). */
export function sharedReadsOf(owner: object): SharedReads {
  let reads = shared.get(owner);
  if (!reads) shared.set(owner, (reads = new SharedReads()));
  return reads;
}
