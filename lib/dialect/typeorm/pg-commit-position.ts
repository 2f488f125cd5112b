import type { PgClient } from './pg-client';
import type { PgPool } from './postgres-driver';
import { pgPoolClients } from './postgres-driver';

/** Where the WAL stands: after a COMMIT, at or past that commit's record. */
export const POSITION_SQL = 'SELECT pg_current_wal_insert_lsn()::text AS lsn';

/** Statements that open a transaction (TypeORM's START TRANSACTION, a cursor's BEGIN … READ ONLY). */
const OPENS = /^\s*(start\s+transaction|begin)\b/i;
/** What makes a transaction read-only: its COMMIT commits nothing. */
const READ_ONLY = /^\s*(set\s+transaction\s+read\s+only|(start\s+transaction|begin)\b.*\bread\s+only)\b/i;
/** Statements that end one. */
const ENDS = /^\s*(commit|rollback|end|abort)\s*$/i;

type Query = (this: PgClient, sql: unknown, values?: unknown, callback?: unknown) => unknown;

const TRACKED = Symbol('sasync.commitPositions');

interface Tracked {
  [TRACKED]?: { readonly query: Query; readonly wrapped: Query; inTransaction: boolean; readOnly: boolean };
}

/**
 * Sends `pg_current_wal_insert_lsn()` right behind every COMMIT of a
 * transaction that sent something and was not read-only, and behind every
 * statement run outside a transaction (autocommit) that `isRead` does not
 * call a read, on the pool's clients, and hands `onCommit` the
 * promise of its text as the COMMIT goes out. It goes out pipelined behind
 * it (see pg-pipeline.ts: a plain statement sent while another is on the
 * wire goes out at once), so it costs no round trip; run after the COMMIT,
 * the position is at or past the commit's record.
 *
 * pg internals: the client's `query`, replaced on the instance over the
 * pipelining one (installed first, in prepareConnection) and called through
 * it; `readyForQuery` and `getTransactionStatus()` to see whether COMMIT
 * has anything to commit (a transaction that sent nothing never sent its
 * BEGIN, and its COMMIT is not sent either). Breaks if pg renames them:
 * positions would be missed and reads would go to the primary after each
 * commit's wait (spec/replicas/read-your-writes.spec.ts).
 */
export function trackCommitPositions(
  pool: PgPool,
  onCommit: (position: Promise<string>) => void,
  isRead: (sql: string) => boolean,
): () => void {
  const track = (client: PgClient) => wrap(client, onCommit, isRead);
  // A client back in the pool without COMMIT (its BEGIN was never sent) starts outside a transaction.
  const released = (_err: unknown, client: PgClient) => {
    const state = (client as PgClient & Tracked)[TRACKED];
    if (state) state.inTransaction = state.readOnly = false;
  };
  for (const client of pgPoolClients(pool)) track(client);
  pool.on('connect', track);
  pool.on('release', released);
  return () => {
    pool.off('connect', track);
    pool.off('release', released);
    for (const client of pgPoolClients(pool)) unwrap(client);
  };
}

function wrap(client: PgClient, onCommit: (position: Promise<string>) => void, isRead: (sql: string) => boolean): void {
  const c = client as PgClient & Tracked;
  if (c[TRACKED]) return;
  const query = c.query as unknown as Query;
  const follow = (self: PgClient): void => {
    const answer = query.call(self, POSITION_SQL) as Promise<{ rows: { lsn: string }[] }>;
    onCommit(answer.then((r) => r.rows[0]?.lsn ?? ''));
  };
  const wrapped: Query = function (this: PgClient, sql, values, callback) {
    const state = c[TRACKED]!;
    const text = statementText(sql);
    // Cursors (a portal, read in a transaction of its own) and callbacks (not sasync's) pass.
    if (text === undefined || callback !== undefined) return query.call(this, sql, values, callback);
    if (typeof sql !== 'string') {
      // A named prepared statement ({ name, text, values }: sasync's prepare() and repeated SQL).
      const result = query.call(this, sql, values);
      if (!state.inTransaction && !isRead(text)) follow(this);
      return result;
    }
    if (READ_ONLY.test(sql)) state.readOnly = true;
    if (OPENS.test(sql)) {
      state.inTransaction = true;
      return query.call(this, sql, values);
    }
    if (ENDS.test(sql)) {
      const commits = state.inTransaction && !state.readOnly && /^\s*(commit|end)/i.test(sql) && sentSomething(client);
      state.inTransaction = state.readOnly = false;
      const result = query.call(this, sql, values);
      if (commits) follow(this);
      return result;
    }
    const result = query.call(this, sql, values);
    // A read in autocommit commits nothing (its position would only make later reads wait for nothing).
    if (!state.inTransaction && sql !== POSITION_SQL && !isRead(sql)) follow(this);
    return result;
  };
  c[TRACKED] = { query, wrapped, inTransaction: false, readOnly: false };
  c.query = wrapped as unknown as PgClient['query'];
}

/** The SQL of a statement: its text, or a query config's; undefined for a cursor (it has `submit`). */
function statementText(sql: unknown): string | undefined {
  if (typeof sql === 'string') return sql;
  if (typeof sql !== 'object' || sql === null) return undefined;
  const config = sql as { text?: unknown; submit?: unknown };
  return typeof config.text === 'string' && typeof config.submit !== 'function' ? config.text : undefined;
}

function unwrap(client: PgClient): void {
  const c = client as PgClient & Tracked;
  const state = c[TRACKED];
  if (!state) return;
  delete c[TRACKED];
  // Another layer put its own query back meanwhile (pipelining stopped): leave it.
  if ((c.query as unknown) === state.wrapped) c.query = state.query as unknown as PgClient['query'];
}

/**
 * Whether the transaction being committed sent anything: a client idle at
 * its last ReadyForQuery never had its BEGIN sent (the pipeline sends BEGIN
 * with the first statement), and one in a failed transaction commits
 * nothing. With statements still on the wire, it did.
 */
function sentSomething(client: PgClient): boolean {
  if (!client.readyForQuery) return true;
  return client.getTransactionStatus?.() === 'T';
}
