import { isDead, type PgClient } from './pg-client';

/** The pg client's query method as TypeORM and sasync call it. */
export type Query = (this: PgClient, sql: unknown, values?: unknown, callback?: unknown) => unknown;

/** What pg's client keeps of the queries it has not answered yet, and its pipeline mode. */
interface PgQueue {
  pipeline?: boolean;
  _queryQueue?: unknown[];
  _sentQueryQueue?: unknown[];
}

/** A call held back from pg, with what settles its Promise (none for a submittable or a callback). */
interface Held {
  readonly self: PgClient;
  readonly sql: unknown;
  readonly values: unknown;
  readonly callback: unknown;
  readonly settle?: { resolve: (value: unknown) => void; reject: (reason: unknown) => void };
}

/**
 * Calls held back from a pg client, in order, until `ready()`; then each is
 * made again through `dispatch` (which may send it or hold it again).
 * Checked at the client's next ReadyForQuery (after pg's own handler) and
 * when its connection ends (then each goes to pg, which fails it), or when
 * the owner calls {@link flush}. The caller gets what pg's `query()` would
 * have returned: a Promise of the answer, the submittable itself (a cursor),
 * or nothing for a call with a callback.
 *
 * pg internal: the protocol `connection`'s 'readyForQuery' and 'end'
 * events. Breaks if pg renames them: held calls would wait for another
 * flush (or forever); caught by spec/dialect/postgres-query-queue.spec.ts.
 */
export class HeldCalls {
  readonly #calls: Held[] = [];
  readonly #client: PgClient;
  readonly #ready: () => boolean;
  readonly #dispatch: Query;
  #unwatch: (() => void) | undefined;

  constructor(client: PgClient, ready: () => boolean, dispatch: Query) {
    this.#client = client;
    this.#ready = ready;
    this.#dispatch = dispatch;
  }

  get size(): number {
    return this.#calls.length;
  }

  /** Holds a call until {@link flush} finds the client ready. */
  hold(self: PgClient, sql: unknown, values: unknown, callback: unknown): unknown {
    this.#watch();
    if (!plain(sql, values, callback)) {
      this.#calls.push({ self, sql, values, callback });
      return typeof (sql as { submit?: unknown } | null)?.submit === 'function' ? sql : undefined;
    }
    return new Promise((resolve, reject) =>
      this.#calls.push({ self, sql, values, callback, settle: { resolve, reject } }),
    );
  }

  /** Makes the held calls again, in order, if the client is ready for them (or dead: pg fails them). */
  readonly flush = (): void => {
    if (this.#calls.length === 0 || !(this.#ready() || isDead(this.#client))) return;
    this.#unwatchNow();
    // Each goes out or is held again, behind those before it.
    for (const call of this.#calls.splice(0)) make(call, this.#dispatch);
  };

  /** Makes every held call through `query` now, ready or not, and stops watching (the wrapper goes away). */
  release(query: Query): void {
    this.#unwatchNow();
    for (const call of this.#calls.splice(0)) make(call, query);
  }

  #watch(): void {
    const connection = this.#client.connection;
    if (this.#unwatch || !connection) return;
    connection.on('readyForQuery', this.flush);
    connection.on('end', this.flush);
    this.#unwatch = () => {
      connection.off('readyForQuery', this.flush);
      connection.off('end', this.flush);
    };
  }

  #unwatchNow(): void {
    this.#unwatch?.();
    this.#unwatch = undefined;
  }
}

/** Makes a held call through `query`, settling its Promise with the answer. */
function make(call: Held, query: Query): void {
  if (!call.settle) {
    void query.call(call.self, call.sql, call.values, call.callback);
    return;
  }
  try {
    (query.call(call.self, call.sql, call.values) as Promise<unknown>).then(call.settle.resolve, call.settle.reject);
  } catch (err) {
    call.settle.reject(err);
  }
}

const ORIGINAL = Symbol('sasync.oneAtATime');
const HELD = Symbol('sasync.oneAtATimeHeld');
/** Whether the client had a query method of its own (not pg's prototype's) before {@link sendOneAtATime}. */
const OWN = Symbol('sasync.oneAtATimeOwn');

type Serial = Omit<PgClient, 'query'> &
  PgQueue & { [ORIGINAL]?: Query; [HELD]?: HeldCalls; [OWN]?: boolean; query: Query };

/**
 * Makes `client` hand pg one call at a time: a call made while pg has one
 * on the wire or queued waits here, in order, and goes to pg at the
 * client's next ReadyForQuery. What is sent, in what order and when, is
 * what pg's own queue would do; only pg's queue stays empty. pg 8 warns
 * when a call is queued behind another queued one ("Calling client.query()
 * when the client is already executing a query is deprecated", a
 * DeprecationWarning printed once per process), and pg 9 drops that queue:
 * a transaction's statements sent together (a store's write batch,
 * produceRows' inserts, a query per row of a stream read in the
 * transaction) must not depend on it. For an app's own DataSource, whose
 * statements sasync does not pipeline ({@link pipelineStatements} does
 * the same for the calls it does not pipeline). A client in pg's pipeline
 * mode (the owner's `pipeline: true`) is left to pg, which queues legally there.
 *
 * pg internals: `pipeline`, `readyForQuery`, `_activeQuery`, `_queryQueue`,
 * `_sentQueryQueue` (see {@link quiet}); `query` is replaced on the instance.
 */
export function sendOneAtATime(client: PgClient): void {
  const c = client as Serial;
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  c[OWN] = Object.hasOwn(c, 'query');
  const serialQuery = function (this: PgClient, sql: unknown, values?: unknown, callback?: unknown): unknown {
    if (isDead(client) || c.pipeline === true || (held.size === 0 && quiet(client))) {
      return query.call(this, sql, values, callback);
    }
    return held.hold(this, sql, values, callback);
  };
  const held = new HeldCalls(client, () => quiet(client) || c.pipeline === true, serialQuery);
  c[HELD] = held;
  c.query = serialQuery;
}

/**
 * Puts back the client's query method from before {@link sendOneAtATime}
 * (pg's prototype's, or the owner's own), leaving nothing of sasync's on
 * it; calls still held go to pg now.
 */
export function stopOneAtATime(client: PgClient): void {
  const c = client as Serial;
  const query = c[ORIGINAL];
  if (!query) return;
  if (c[OWN]) c.query = query;
  else delete (c as Partial<Serial>).query;
  const held = c[HELD];
  delete c[ORIGINAL];
  delete c[HELD];
  delete c[OWN];
  held?.release(query);
}

/** Whether pg takes the call as a plain statement (not a cursor or another submittable, no callback). */
export function plain(sql: unknown, values: unknown, callback: unknown): boolean {
  if (callback !== undefined || typeof values === 'function') return false;
  if (typeof sql === 'string') return true;
  return typeof sql === 'object' && sql !== null && typeof (sql as { submit?: unknown }).submit !== 'function';
}

/** Whether the client is out of pipeline mode with nothing on the wire or queued. */
export function quiet(client: PgClient): boolean {
  const c = client as Serial;
  return (
    c.pipeline !== true &&
    c.readyForQuery === true &&
    !c._activeQuery &&
    (c._queryQueue?.length ?? 0) === 0 &&
    (c._sentQueryQueue?.length ?? 0) === 0
  );
}
