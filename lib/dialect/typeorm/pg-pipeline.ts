import { commitsBehind } from '../commit-behind';
import { isDead, type PgClient } from './pg-client';
import { HeldCalls, plain, quiet, type Query } from './pg-one-at-a-time';

/** pg's pipeline mode on a client (see {@link pipelineStatements}). */
interface PgQueue {
  pipeline?: boolean;
}

type Deferring = Omit<PgClient, 'query'> & PgQueue & { [ORIGINAL]?: Query; [STATE]?: BeginState; query: Query };

/** A client's BEGIN not sent yet, its statements on the wire in pipeline mode, and the calls waiting for them. */
interface BeginState {
  /** The statements that open the transaction (START TRANSACTION, SET TRANSACTION …), not sent yet. */
  pending: string[];
  /** Plain statements sent in pipeline mode and not answered yet. */
  inflight: number;
  /**
   * What the caller of the latest statement on the wire is given: a statement
   * sent behind it settles only after it, so that the first to fail is the
   * error the work sees (the first statement's answer waits for BEGIN's too).
   */
  tail?: Promise<unknown>;
  /**
   * Calls that may not go to pg now, in order: a call pg's pipeline mode
   * refuses (and every call after one), sent once nothing is in flight; a
   * call made while pg runs one it took outside pipeline mode (a cursor, a
   * stream), sent at the client's next ReadyForQuery.
   */
  held: HeldCalls;
  /**
   * The COMMIT sent right behind a statement commitWith() marked, not asked
   * for yet: TypeORM's own COMMIT for this transaction gets its answer
   * instead of sending a second one (see commit-behind.ts).
   */
  commit?: Promise<unknown>;
  /** The socket holds its writes until the current turn's microtasks (see `send`). */
  corked: boolean;
}

/** The SQL TypeORM's startTransaction() sends, and what may follow it before the work's first statement. */
const BEGIN = 'START TRANSACTION';
const SET_TRANSACTION = /^SET TRANSACTION /;
/** What ends a transaction that sent nothing: with BEGIN still pending, neither goes out. */
const ENDS = new Set(['COMMIT', 'ROLLBACK']);

const ORIGINAL = Symbol('sasync.pipeline');
const STATE = Symbol('sasync.pipelineState');

/**
 * Makes `client` spare round trips: a transaction's BEGIN goes out with its
 * first statement, and statements sent together (without awaiting each
 * other) go out together, written before any answer is read.
 *
 * BEGIN: TypeORM's `START TRANSACTION` (and the `SET TRANSACTION ISOLATION
 * LEVEL` after it) on an idle client is answered at once without being
 * sent; it goes out right before the next statement. A transaction that
 * sends nothing sends neither BEGIN nor its COMMIT (or ROLLBACK). The first
 * statement's promise settles once both are answered: with BEGIN's error if
 * BEGIN failed (a lost connection: the statement failed too), else with the
 * statement's own result or error, so a failing first statement is reported
 * as itself and the transaction rolls back as before.
 *
 * Together: a plain statement (SQL or a query config, no callback) sent
 * while others are on the wire goes out at once behind them instead of
 * waiting for their answers; each still settles with its own answer, in
 * order, so the first to fail is the one the work sees (those after it fail
 * in the aborted transaction). A cursor (or any call pg's pipeline mode
 * refuses: a portal kept open across round trips) waits until the
 * statements on the wire are answered, and every call after it waits behind
 * it, as pg's own queue would have it; a cursor right after BEGIN waits
 * for BEGIN's answer the same way.
 *
 * One at a time otherwise: nothing is left in pg's own queue. A call made
 * while pg runs one it took outside pipeline mode (a cursor or a TypeORM
 * stream keeps its portal, and the client, until it closes) waits here,
 * in order, and goes out at the client's next ReadyForQuery. pg 8 queues
 * such calls itself but warns ("Calling client.query() when the client is
 * already executing a query is deprecated", a DeprecationWarning printed
 * once per process), and pg 9 drops that queue. What is sent (and when) is
 * what pg's queue would have sent. A client whose connection ended sends
 * its held calls to pg at once, which fails them.
 *
 * pg internals: `pipeline` (pg 8.23's pipeline mode, on only while
 * statements sent here are on the wire), `_queryQueue`, `_sentQueryQueue`
 * and `_activeQuery` (to see that the client is quiet before the mode goes
 * on, and that nothing is left in flight when it goes off again: pg reads
 * answers from its sent queue only in pipeline mode), `readyForQuery` and
 * `getTransactionStatus()`. `query` is replaced on the instance, over
 * autoPrepare's. Breaks if pg renames them: statements would go out one
 * round trip each, or, if the mode stopped being honoured, wait forever.
 * Caught by spec/dialect/postgres-pipelined-begin.spec.ts.
 */
export function pipelineStatements(client: PgClient): void {
  const c = client as Deferring;
  if (c[ORIGINAL]) return;
  const query = c.query;
  c[ORIGINAL] = query;
  const state: BeginState = {
    pending: [],
    inflight: 0,
    corked: false,
    // Each held call is made again as a new one: pipelined, sent, or held again.
    held: new HeldCalls(
      client,
      () => state.inflight === 0 && quiet(client),
      function (this: PgClient, sql, values, callback) {
        return pipeliningQuery.call(this, sql, values, callback);
      },
    ),
  };
  c[STATE] = state;

  /** Sends a plain statement at once, behind those on the wire, in pipeline mode until all are answered. */
  const send = (sql: unknown, values?: unknown): Promise<unknown> => {
    c.pipeline = true;
    corkThisTurn();
    state.inflight++;
    let sent: Promise<unknown>;
    try {
      sent = query.call(client, sql, values) as Promise<unknown>;
    } catch (err) {
      // (pg throws at once only for a call it refuses to queue: nothing was sent.)
      sent = Promise.reject(err);
    }
    // Runs before the caller's own handlers: the mode is off and the held calls sent before it goes on.
    const answered = () => {
      if (--state.inflight > 0) return;
      // Nothing left to settle behind (and no answer kept alive on an idle client).
      state.tail = undefined;
      // Every answer is here (each settles only after those sent before it, or all at once when the
      // connection ends): pg's sent queue is empty, so its one-at-a-time mode can take over.
      c.pipeline = false;
      state.held.flush();
    };
    sent.then(answered, answered);
    // The transaction's last statement (commitWith()): COMMIT goes right behind it, in the same round trip.
    if (commitsBehind(values)) state.commit = committedBehind(sent, send('COMMIT'));
    return sent;
  };

  /**
   * Statements sent in one turn (BEGIN and the first statement, a statement
   * and the COMMIT behind it, statements sent together) leave in one write:
   * pg writes each as it is sent, a system call each (and a wake-up of the
   * server's backend). The socket is corked until the microtasks of this
   * turn run, before any I/O: nothing waits on it.
   */
  const corkThisTurn = () => {
    const stream = client.connection?.stream;
    if (state.corked || !stream?.cork || !stream.uncork) return;
    state.corked = true;
    stream.cork();
    queueMicrotask(() => {
      state.corked = false;
      stream.uncork!();
    });
  };

  const pipeliningQuery = function (this: PgClient, sql: unknown, values?: unknown, callback?: unknown): unknown {
    // A dead client: pg fails the call at once (nothing is queued, nothing waits for an answer).
    if (isDead(client)) return query.call(this, sql, values, callback);
    if (state.commit && typeof sql === 'string' && values === undefined && ENDS.has(sql)) {
      // The transaction's COMMIT went out already: its answer, not a second COMMIT. (A ROLLBACK goes
      // out: the transaction ended with that COMMIT, and postgres only warns.)
      const commit = state.commit;
      state.commit = undefined;
      if (sql === 'COMMIT') return commit;
    }
    const isPlain = plain(sql, values, callback);
    if (state.held.size > 0) return state.held.hold(this, sql, values, callback);
    if (state.inflight > 0) {
      if (isPlain) return behind(send(sql, values));
      // pg's pipeline mode refuses a cursor: it waits until the statements on the wire are answered.
      return state.held.hold(this, sql, values, callback);
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
      if (!isPlain) {
        // pg's pipeline mode refuses cursors: BEGIN goes first, and the cursor once it is answered.
        for (const begin of state.pending.splice(0)) send(begin).catch(() => undefined);
        return state.held.hold(this, sql, values, callback);
      }
      // A failing first statement is reported as itself; BEGIN's own error (a lost connection) wins.
      const opening = state.pending;
      state.pending = [];
      let begun = send(opening[0]);
      for (let i = 1; i < opening.length; i++) begun = firstFailure(begun, send(opening[i]));
      return (state.tail = firstFailure(begun, send(sql, values)));
    }
    if (!quiet(client)) return state.held.hold(this, sql, values, callback);
    if (text === BEGIN && c.getTransactionStatus?.() === 'I') {
      state.pending = [text];
      return Promise.resolve(emptyResult('BEGIN'));
    }
    if (isPlain) return (state.tail = send(sql, values));
    return query.call(this, sql, values, callback);
  };

  /** `sent` as its caller gets it: settled only after the statement sent before it (see BeginState.tail). */
  const behind = (sent: Promise<unknown>): Promise<unknown> => {
    const before = state.tail;
    const after = () => sent;
    return (state.tail = before ? before.then(after, after) : sent);
  };
  c.query = pipeliningQuery as Query;
}

/** Puts back the client's query method from before {@link pipelineStatements} (a pending BEGIN is dropped). */
export function stopPipelining(client: PgClient): void {
  const c = client as Deferring;
  const query = c[ORIGINAL];
  if (!query) return;
  c.query = query;
  const held = c[STATE]?.held;
  delete c[ORIGINAL];
  delete c[STATE];
  held?.release(query);
}

/**
 * Forgets a BEGIN not sent yet: the client went back to its pool without
 * COMMIT or ROLLBACK (its next user must not find a transaction begun).
 */
export function dropPendingBegin(client: PgClient): void {
  const state = (client as Deferring)[STATE];
  if (state && state.inflight === 0) {
    state.pending = [];
    state.commit = undefined;
  }
}

/** Whether `client` pipelines (see {@link pipelineStatements}): a statement marked by commitWith() takes COMMIT along. */
export function pipelines(client: PgClient): boolean {
  return (client as Deferring)[STATE] !== undefined;
}

/**
 * The answer TypeORM's COMMIT gets for a COMMIT sent behind `statement`:
 * settled once both are answered; an error when postgres answered that
 * COMMIT with ROLLBACK (the statement, or one before it, failed and aborted
 * the transaction), so that a work that caught the failure is not told its
 * transaction committed.
 */
function committedBehind(statement: Promise<unknown>, commit: Promise<unknown>): Promise<unknown> {
  const answer = statement
    .then(
      () => commit,
      () => commit,
    )
    .then((result) => {
      if ((result as { command?: unknown } | undefined)?.command === 'COMMIT') return result;
      throw Object.assign(
        new Error(
          'COMMIT was answered with ROLLBACK: a statement of the transaction failed, so postgres rolled it back ' +
            'and nothing it wrote was kept',
        ),
        { code: '25P02' },
      );
    });
  // Not asked for when the transaction fails before its COMMIT: no unhandled rejection.
  answer.catch(() => undefined);
  return answer;
}

/**
 * `second`'s outcome once both have settled, unless `first` failed: then
 * `first`'s error (as `Promise.allSettled` of both and the first failure,
 * with fewer Promises: this is every transaction's first statement).
 */
function firstFailure(first: Promise<unknown>, second: Promise<unknown>): Promise<unknown> {
  return first.then(
    () => second,
    (err: unknown) => {
      const rethrow = (): never => {
        throw err;
      };
      return second.then(rethrow, rethrow);
    },
  );
}

/** What pg resolves a statement without rows with. */
function emptyResult(command: string): { command: string; rowCount: null; rows: never[]; fields: never[] } {
  return { command, rowCount: null, rows: [], fields: [] };
}
