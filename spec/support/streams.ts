import fs from 'node:fs';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import sqlite3 from 'sqlite3';
import type { DataSourceOptions, Logger } from 'typeorm';
import { resolveTarget, type AccessBroker, type DatabaseTarget } from '../../lib';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from './brokers';
import type { TestTarget } from './targets';

/** Fills the broker's items table with `n1` … `nN` (ids 1 … N) in one statement. */
export async function fillItems(b: ItemsBroker, n: number): Promise<void> {
  const sql =
    b.dialect === 'postgres'
      ? `INSERT INTO ${b.itemsTable} (name) SELECT 'n' || g FROM generate_series(1, $1::int) AS g ORDER BY g`
      : `WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?) ` +
        `INSERT INTO ${b.itemsTable} (name) SELECT 'n' || x FROM g ORDER BY x`;
  await lastValueFrom(b.query(sql, [n]));
}

/** Inserts one name in a transaction of its own. */
export async function insertName(b: ItemsBroker, name: string): Promise<void> {
  await lastValueFrom(b.query(b.insertSql(), [name]));
}

/** `SELECT id, name FROM items ORDER BY id`. */
export function allItemsSql(b: ItemsBroker): string {
  return `SELECT id, name FROM ${b.itemsTable} ORDER BY id`;
}

/** A placeholder-free SELECT that fails at runtime on the row whose id is `failAt` (not at planning time). */
export function failingAtSql(b: ItemsBroker, failAt: number): string {
  // postgres: division by zero; sqlite: json() of malformed text (sqlite divides by zero into NULL).
  const boom =
    b.dialect === 'postgres' ? `1 / (id - ${failAt})` : `CASE WHEN id = ${failAt} THEN json('{' || name) END`;
  return `SELECT id, name, ${boom} AS boom FROM ${b.itemsTable} ORDER BY id`;
}

/** Counts what a stream read from the database, through its `onBatch` option. */
export interface ReadCounter {
  /** Rows read so far. */
  readonly rows: number;
  /** Batches read so far. */
  readonly batches: number;
  readonly onBatch: (rows: number) => void;
}

export function readCounter(): ReadCounter {
  const counter = {
    rows: 0,
    batches: 0,
    onBatch: (rows: number) => {
      counter.rows += rows;
      counter.batches++;
    },
  };
  return counter;
}

/**
 * Resolves once `condition` holds; fails naming what it waited for. For
 * state that sends no event (a postgres session's state, a pool's counts,
 * notices counted by a listener): it looks again after each event-loop turn
 * that gave I/O a chance, so that what settles at once is seen at once; a
 * condition still false after many turns waits on something slower (a
 * server restarting), and is looked at every few ms instead of spinning.
 */
export async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let turns = 0;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await (++turns < SPIN_TURNS ? nextTurn() : new Promise((resolve) => setTimeout(resolve, 5)));
  }
}

/** Event-loop turns until() looks on before it looks only every few ms. */
const SPIN_TURNS = 50;

/** `promise`, or a rejection naming what hung (instead of a bare Jest timeout): a guard, not a wait. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Gives a producer that reads ahead every chance to do so before the next
 * count is taken: database round trips, each queued behind any read the
 * broker has under way. In memory a query would wait for the open stream
 * (it holds the one connection), and a read ahead on it finishes on
 * sqlite's thread pool with no event to wait for: there only, real time passes.
 */
export async function settle(b: AccessBroker): Promise<void> {
  const memory = b.dialect === 'sqlite' && b.dataSource.options.database === ':memory:';
  for (let i = 0; i < 3; i++) {
    if (memory) await new Promise((resolve) => setTimeout(resolve, 10));
    else await lastValueFrom(b.query('SELECT 1 AS one'));
    await nextTurn();
  }
}

/** One turn of the event loop, after the I/O callbacks due (setImmediate runs after the poll phase). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Row streams that may hold a connection of their own at once (the pool-size of streams). */
export function streamBudget(t: TestTarget): number {
  if (t.name === 'postgres') return 2; // a fifth of the default pool of 10
  if (t.name === 'sqlite-file') return 4; // reader connections
  return 1; // sqlite in memory: the one connection
}

/**
 * The test target with its postgres connections named `appName`, so that
 * pg_stat_activity checks see this test's sessions only (a DataSource of its own).
 */
export function namedTarget(t: TestTarget, appName: string): DatabaseTarget {
  if (t.dialect !== 'postgres') return t.target();
  return { ...resolveTarget(t.target()).options, applicationName: appName } as DataSourceOptions;
}

/** The sqlite database file of a broker. */
export function sqliteFile(b: AccessBroker): string {
  return b.dataSource.options.database as string;
}

/**
 * File descriptors of this process on a sqlite file. While any connection is
 * open this over-counts (sqlite defers closing a closed connection's
 * descriptor while other connections hold locks); once all are closed, 0.
 */
export function sqliteConnections(file: string): number {
  const resolved = path.resolve(file);
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`) === resolved) n++;
    } catch {
      // closed meanwhile (readdir's own descriptor)
    }
  }
  return n;
}

/**
 * A TRUNCATE checkpoint from a connection of the test's own: it can only
 * complete (busy 0) when no other connection still holds a read transaction.
 */
export async function checkpointBusy(file: string): Promise<number> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened: sqlite3.Database = new sqlite3.Database(file, (err) => (err ? reject(err) : resolve(opened)));
  });
  try {
    // A short wait: a reader that was leaked would make it wait the whole timeout.
    await new Promise<void>((resolve, reject) =>
      db.run('PRAGMA busy_timeout = 200', (err) => (err ? reject(err) : resolve())),
    );
    const rows = await new Promise<{ busy: number }[]>((resolve, reject) =>
      db.all('PRAGMA wal_checkpoint(TRUNCATE)', (err, r) => (err ? reject(err) : resolve(r as { busy: number }[]))),
    );
    return rows[0]!.busy;
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

/** Names of sqlite temporary tables left on the broker's (transaction) connection. */
export async function sqliteTempTables(b: AccessBroker): Promise<string[]> {
  const rows = await lastValueFrom(
    b.query<{ name: string }>("SELECT name FROM sqlite_temp_master WHERE type = 'table'"),
  );
  return rows.map((r) => r.name);
}

/** A postgres session as pg_stat_activity shows it, for a failure that names what was busy. */
export interface SessionInfo {
  readonly pid: number;
  readonly state: string | null;
  readonly query: string;
  readonly backendStart: string;
  readonly xactStart: string | null;
  readonly stateChange: string | null;
  readonly waitEvent: string | null;
  /** Whether the session is a client of the broker's own pool (else another DataSource's, or a client already dropped). */
  readonly inPool: boolean;
}

/** Sessions named `appName` that are mid-statement or mid-transaction, the asking one aside. */
export async function busySessionList(b: AccessBroker, appName: string): Promise<SessionInfo[]> {
  const rows = await lastValueFrom(
    b.query<{
      pid: number;
      state: string | null;
      query: string;
      backend_start: string;
      xact_start: string | null;
      state_change: string | null;
      wait_event: string | null;
    }>(
      `SELECT pid, state, query, backend_start::text, xact_start::text, state_change::text,
              wait_event_type || ':' || wait_event AS wait_event
       FROM pg_stat_activity
       WHERE application_name = $1 AND pid <> pg_backend_pid()
         AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
       ORDER BY backend_start`,
      [appName],
    ),
  );
  const pooled = new Set(pgPoolClients(b).map((c) => c.processID));
  return rows.map((r) => ({
    pid: r.pid,
    state: r.state,
    query: r.query,
    backendStart: r.backend_start,
    xactStart: r.xact_start,
    stateChange: r.state_change,
    waitEvent: r.wait_event,
    inPool: pooled.has(r.pid),
  }));
}

/** How many sessions busySessionList finds. */
export async function busySessions(b: AccessBroker, appName: string): Promise<number> {
  return (await busySessionList(b, appName)).length;
}

/** The pg clients of a postgres broker's pool (pg-pool internal `_clients`; none on sqlite or once closed). */
function pgPoolClients(b: AccessBroker): { processID: number | null }[] {
  const driver = b.dataSource.driver as { master?: { _clients?: { processID: number | null }[] } };
  return driver.master?._clients ?? [];
}

/**
 * Waits until no session of `appName` is busy (up to `timeoutMs`); fails
 * listing the sessions busy at the last look (state, query, when the
 * backend and its transaction started, what it waits on, whether it is one
 * of the pool's), so that a failure says what held them.
 *
 * One look that sees none is enough, and there is no second look: sessions
 * may come and go after the streams closed. An interrupted postgres stream
 * cancels its statement from a short-lived session of its own that it does
 * not wait for (its abort ends at once, also on a server that does not
 * answer); it once had the app's application_name and could be 'active'
 * (running pg_cancel_backend) just after a look that saw none, and a second
 * look failed a run that leaked nothing (CI, sinks.spec). It is named
 * `sasync-cancel` now. A leaked session is busy at every look.
 */
export async function expectNoBusySessions(b: AccessBroker, appName: string, timeoutMs = 10_000): Promise<void> {
  let busy: SessionInfo[] = [];
  let failed: { error: unknown } | undefined;
  const look = async () => {
    try {
      busy = await busySessionList(b, appName);
    } catch (error) {
      failed = { error };
      return true; // stop looking: the query failed, not the check
    }
    return busy.length === 0;
  };
  const timedOut = await until(look, `no session of ${appName} is busy`, timeoutMs).then(
    () => undefined,
    (error: unknown) => error,
  );
  if (failed) throw failed.error;
  if (timedOut === undefined) return;
  const pool = pgPoolClients(b).map((c) => c.processID);
  throw new Error(
    `${busy.length} session(s) of ${appName} still busy at ${new Date().toISOString()} ` +
      `after ${timeoutMs} ms (the pool's pids: ${pool.join(', ') || 'none'}):\n` +
      busy.map((session) => `  ${JSON.stringify(session)}`).join('\n'),
    { cause: timedOut },
  );
}

/**
 * Every stream connection of the broker can be had at once: opens
 * `streamBudget(t)` streams together, each holding its connection until all
 * have one. Hangs (and fails) if a closed stream kept its slot.
 */
export async function expectStreamBudgetWhole(b: ItemsBroker, t: TestTarget): Promise<void> {
  const budget = streamBudget(t);
  const all = latch();
  let holding = 0;
  const readers = Array.from({ length: budget }, async () => {
    for await (const row of b.stream<{ one: number }>('SELECT 1 AS one')) {
      expect(Number(row.one)).toBe(1);
      if (++holding === budget) all.resolve();
      await all.promise;
    }
  });
  await within(Promise.all(readers), `${budget} streams at once (the whole stream budget)`);
}

/**
 * Runs `fn` with a fresh ItemsBroker (postgres connections named `appName`);
 * on a sqlite file, also checks that once the broker is shut down no
 * connection to the file is left open (a leaked reader keeps its own).
 */
export async function withStreamItems(
  t: TestTarget,
  appName: string,
  fn: (b: ItemsBroker) => Promise<void>,
): Promise<void> {
  let file: string | undefined;
  await withItems(
    t,
    async (b) => {
      if (t.name === 'sqlite-file') file = sqliteFile(b);
      await fn(b);
    },
    namedTarget(t, appName),
  );
  if (file !== undefined) {
    // sqlite keeps a closed connection's descriptor while others lock the file: count after shutdown.
    expect(sqliteConnections(file)).toBe(0);
  }
}

/**
 * The way a stream spec runs a case: `fn` on a fresh ItemsBroker holding
 * `rows` items (see withStreamItems), then every stream connection must be
 * back (expectStreamsReleased).
 */
export function releaseCheckedRun(
  t: TestTarget,
  appName: string,
  rows: number,
): (fn: (b: ItemsBroker) => Promise<void>) => Promise<void> {
  return (fn) =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, rows);
      await fn(b);
      await expectStreamsReleased(b, t, appName);
    });
}

/**
 * Everything a closed stream held is back: the pool is whole, `SELECT 1`
 * works, the whole stream budget can be had again; on postgres no session of
 * `appName` is stuck in a statement or transaction; on a sqlite file a write
 * transaction commits and no read lock is left; on sqlite no temporary table
 * is left on the transaction connection.
 */
export async function expectStreamsReleased(b: ItemsBroker, t: TestTarget, appName?: string): Promise<void> {
  await b.drain();
  await until(() => {
    const stats = b.connectionStats();
    return stats.idle === stats.open && stats.waiting === 0;
  }, 'the pool is whole');
  expectPoolWhole(b);
  const one = await within(lastValueFrom(b.query<{ one: number }>('SELECT 1 AS one')), 'SELECT 1');
  expect(Number(one[0]!.one)).toBe(1);
  if (t.dialect === 'postgres' && appName !== undefined) {
    await expectNoBusySessions(b, appName);
  }
  if (t.name === 'sqlite-file') {
    // A reader left inside its read transaction would keep the checkpoint busy.
    await within(insertName(b, 'written after close'), 'a write transaction');
    await lastValueFrom(b.query(`DELETE FROM ${b.itemsTable} WHERE name = ?`, ['written after close']));
    expect(await checkpointBusy(sqliteFile(b))).toBe(0);
  }
  if (t.dialect === 'sqlite') expect(await sqliteTempTables(b)).toEqual([]);
  await expectStreamBudgetWhole(b, t);
  expectPoolWhole(b);
}

/**
 * DataSourceOptions for a test target whose TypeORM logger calls `onQuery`
 * as each statement starts (statements on the DataSource's own connections;
 * sqlite reader connections and pg cursors are not logged).
 */
export function hookedOptions(target: string, onQuery: (sql: string) => void): DataSourceOptions {
  const logger: Logger = {
    logQuery: (sql) => onQuery(sql),
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  return { ...resolveTarget(target).options, logging: true, logger } as DataSourceOptions;
}
