import type { PgClient } from './pg-client';

/** The pg client's query method as TypeORM and sasync call it. */
type Query = (this: PgClient, sql: unknown, values?: unknown, callback?: unknown) => unknown;

/** What pg's client keeps of its queue and pipeline mode (see {@link pipelineBegin}). */
interface PgQueue {
  pipeline?: boolean;
  _queryQueue?: unknown[];
  _sentQueryQueue?: unknown[];
}

type Deferring = Omit<PgClient, 'query'> & PgQueue & { [ORIGINAL]?: Query; [STATE]?: BeginState; query: Query };

/** A client's BEGIN not sent yet, and the calls held while it goes out with the first statement. */
interface BeginState {
  /** The statements that open the transaction (START TRANSACTION, SET TRANSACTION …), not sent yet. */
  pending: string[];
  /** Calls made while BEGIN and the first statement are on the wire: sent once both are answered. */
  held: (() => void)[] | undefined;
}

/** The SQL TypeORM's startTransaction() sends, and what may follow it before the work's first statement. */
const BEGIN = 'START TRANSACTION';
const SET_TRANSACTION = /^SET TRANSACTION /;
/** What ends a transaction that sent nothing: with BEGIN still pending, neither goes out. */
const ENDS = new Set(['COMMIT', 'ROLLBACK']);

const ORIGINAL = Symbol('sasync.pipelineBegin');
const STATE = Symbol('sasync.pipelineBeginState');

/**
 * Makes `client` send a transaction's BEGIN together with its first
 * statement: one round trip instead of two. TypeORM's `START TRANSACTION`
 * (and the `SET TRANSACTION ISOLATION LEVEL` after it) sent on an idle
 * client is answered at once without being sent; the next statement goes
 * out right behind it, both written before either answer is read. A
 * transaction that sends nothing sends neither BEGIN nor its COMMIT (or
 * ROLLBACK). The first statement's promise settles once both are answered:
 * with BEGIN's error if BEGIN failed (a lost connection: the statement
 * failed too), else with the statement's own result or error, so a failing
 * first statement is reported as itself and the transaction rolls back as
 * before. Statements the work sends meanwhile wait until both are answered,
 * as they would behind any running statement. A cursor (or any call pg's
 * pipeline mode refuses) as the first statement sends BEGIN ahead of it the
 * usual way.
 *
 * pg internals: `pipeline` (pg 8.23's pipeline mode, on only while BEGIN and
 * the first statement are on the wire), `_queryQueue` and `_sentQueryQueue`
 * (to see that the client is idle, and that nothing is left in flight when
 * the mode goes off again: pg reads answers from its sent queue only in
 * pipeline mode), `readyForQuery` and `getTransactionStatus()`. `query` is
 * replaced on the instance, over autoPrepare's. Breaks if pg renames them:
 * BEGIN and the statement would go out in two round trips, or, if the mode
 * stopped being honoured, statements would wait forever. Caught by
 * spec/dialect/postgres-pipelined-begin.spec.ts.
 */
export function pipelineBegin(client: PgClient): void {
  const c = client as Deferring;
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  const state: BeginState = { pending: [], held: undefined };
  c[STATE] = state;

  c.query = function pipeliningQuery(this: PgClient, sql: unknown, values?: unknown, callback?: unknown) {
    if (state.held) {
      // BEGIN and the first statement are on the wire: this goes out once both are answered.
      const submittable = typeof (sql as { submit?: unknown } | null)?.submit === 'function';
      if (submittable || callback !== undefined || typeof values === 'function') {
        state.held.push(() => void query.call(this, sql, values, callback));
        return submittable ? sql : undefined;
      }
      return new Promise((resolve, reject) => {
        state.held!.push(() => (query.call(this, sql, values) as Promise<unknown>).then(resolve, reject));
      });
    }
    const text = typeof sql === 'string' && values === undefined && callback === undefined ? sql : undefined;
    if (state.pending.length > 0) {
      if (text !== undefined && ENDS.has(text)) {
        state.pending = [];
        return Promise.resolve(emptyResult(text));
      }
      if (text !== undefined && SET_TRANSACTION.test(text)) {
        state.pending.push(text);
        return Promise.resolve(emptyResult('SET'));
      }
      if (!plain(sql, values, callback)) {
        // pg's pipeline mode refuses cursors: BEGIN goes first, the usual way.
        for (const begin of state.pending.splice(0))
          (query.call(this, begin) as Promise<unknown>).catch(() => undefined);
        return query.call(this, sql, values, callback);
      }
      return pipelined(c, query, state, sql, values);
    }
    if (text === BEGIN && idle(c)) {
      state.pending = [text];
      return Promise.resolve(emptyResult('BEGIN'));
    }
    return query.call(this, sql, values, callback);
  } as Query;
}

/** Puts back the client's query method from before {@link pipelineBegin} (a pending BEGIN is dropped). */
export function stopPipeliningBegin(client: PgClient): void {
  const c = client as Deferring;
  const query = c[ORIGINAL];
  if (!query) return;
  c.query = query;
  delete c[ORIGINAL];
  delete c[STATE];
}

/**
 * Forgets a BEGIN not sent yet: the client went back to its pool without
 * COMMIT or ROLLBACK (its next user must not find a transaction begun).
 */
export function dropPendingBegin(client: PgClient): void {
  const state = (client as Deferring)[STATE];
  if (state && !state.held) state.pending = [];
}

/** Sends the pending BEGIN and the first statement back to back, in pg's pipeline mode while both are out. */
function pipelined(c: Deferring, query: Query, state: BeginState, sql: unknown, values: unknown): Promise<unknown> {
  const begins = state.pending.splice(0);
  const held: (() => void)[] = [];
  state.held = held;
  c.pipeline = true;
  const client = c as unknown as PgClient;
  const sent: Promise<unknown>[] = [];
  for (const [text, args] of [...begins.map((begin) => [begin, undefined] as const), [sql, values] as const]) {
    try {
      sent.push(query.call(client, text, args) as Promise<unknown>);
    } catch (err) {
      // (pg throws at once only for a call it refuses to queue: nothing was sent.)
      sent.push(Promise.reject(err));
      break;
    }
  }
  return Promise.allSettled(sent).then((results) => {
    // Every answer is here (each settles only after the ones sent before it,
    // or all at once when the connection ends): nothing is left in pg's sent
    // queue, so its usual one-at-a-time mode can take over.
    c.pipeline = false;
    state.held = undefined;
    for (const send of held) send();
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return (results[results.length - 1] as PromiseFulfilledResult<unknown>).value;
  });
}

/** Whether pg takes the call as a plain statement (not a cursor or another submittable, no callback). */
function plain(sql: unknown, values: unknown, callback: unknown): boolean {
  if (callback !== undefined || typeof values === 'function') return false;
  if (typeof sql === 'string') return true;
  return typeof sql === 'object' && sql !== null && typeof (sql as { submit?: unknown }).submit !== 'function';
}

/** Whether the client is outside a transaction with nothing on the wire or queued. */
function idle(c: Deferring): boolean {
  return (
    c.pipeline !== true &&
    c.readyForQuery === true &&
    !c._activeQuery &&
    (c._queryQueue?.length ?? 0) === 0 &&
    (c._sentQueryQueue?.length ?? 0) === 0 &&
    c.getTransactionStatus?.() === 'I'
  );
}

/** What pg resolves a statement without rows with. */
function emptyResult(command: string): { command: string; rowCount: null; rows: never[]; fields: never[] } {
  return { command, rowCount: null, rows: [], fields: [] };
}
