import type sqlite3 from 'sqlite3';
import { RepeatedSql } from '../repeated-sql';

/**
 * How a statement is run: `run` (INSERT, UPDATE, DELETE: `this.lastID` and
 * `this.changes` in the callback) or `all` (the callback gets the rows).
 */
export type SqliteCall = 'run' | 'all';

/** node-sqlite3's callback of run() and all(); `this` is the Statement. */
export type SqliteCallback = (this: sqlite3.RunResult, err: Error | null, rows?: unknown[]) => void;

/** node-sqlite3's Statement constructor: it prepares `sql` on `db`, then calls back (an error, or null). */
export type StatementClass = new (
  db: sqlite3.Database,
  sql: string,
  prepared: (err: Error | null) => void,
) => sqlite3.Statement;

/** How many statements one connection keeps prepared. */
export const SQLITE_STATEMENT_LIMIT = 100;

/** A kept statement; `gone` once given up (finalized): a call still waiting for it goes unprepared. */
interface Kept {
  readonly statement: sqlite3.Statement;
  /** How it is run: the same SQL sent the other way goes unprepared. */
  readonly call: SqliteCall;
  /** Its SQL names no parameter: it may run without values. */
  readonly bare: boolean;
  gone: boolean;
}

/** A character that may start a parameter (`?`, `?1`, `:a`, `@a`, `$a`). */
const PARAMETER = /[?:@$]/;
/**
 * SQL (after any leading comments) that is never kept: sqlite may carry out
 * a PRAGMA while preparing it (run again, a kept one would do nothing), and
 * an EXPLAIN statement that has given all its rows still counts as reading
 * until it is reset (sqlite lists the program without halting it): a DROP
 * TABLE on the connection would then fail with SQLITE_LOCKED.
 */
const NEVER_KEPT = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(?:pragma|explain)\b/i;
/** A statement with RETURNING is not finished after the one step run() takes. */
const RETURNING = /returning/i;
/** The (deprecated) PRAGMA that makes INSERT, UPDATE and DELETE return a row: run() would leave them unfinished too. */
const COUNT_CHANGES = /count_changes/i;

/**
 * The statements one node-sqlite3 connection keeps prepared: SQL it ran a
 * second time (see RepeatedSql: at most {@link SQLITE_STATEMENT_LIMIT},
 * the least recently used finalized). `db.run(sql)` and `db.all(sql)`
 * prepare the SQL (a trip through libuv's thread pool), run it (another)
 * and finalize it every time; a kept statement only runs, so a small
 * transaction makes half the trips. sqlite prepares a kept statement again
 * by itself after a schema change (its own or another connection's).
 *
 * Order: node-sqlite3 runs a Statement's calls as soon as they are made,
 * past the calls the connection holds back in serialized mode (which
 * sasync's connections are in); so a kept statement runs from
 * `db.wait()`, which calls back once everything made before it has
 * finished (at once when nothing is in flight), and everything made after
 * it waits for it in turn. A statement is finalized from `db.wait()` too:
 * finalizing takes the connection's mutex, which a running statement holds
 * (the event loop would wait for it).
 *
 * Kept only where a kept statement behaves as a fresh one: not a PRAGMA or
 * an EXPLAIN (see NEVER_KEPT); not `run` of SQL with RETURNING (one step
 * leaves it unfinished, holding its lock until reset), nor any `run` once a
 * `count_changes` PRAGMA went through here; not SQL without values that
 * may name a parameter (node-sqlite3 binds nothing then, so the last
 * call's values would stay). A kept statement that fails is given up (a
 * failed COMMIT may stay unfinished until reset). Everything else goes as
 * `db.run` / `db.all` would send it, with the same callback and errors.
 * {@link close} finalizes every kept statement: a connection with
 * statements not finalized cannot close.
 */
export class SqliteStatementCache {
  readonly #kept: RepeatedSql<Kept>;
  #closed = false;
  /** Whether `run` statements may be kept: not after a count_changes PRAGMA. */
  #runsKept = true;

  /** @param limit the most statements kept (specs use a small one). */
  constructor(
    private readonly db: sqlite3.Database,
    private readonly Statement: StatementClass,
    limit = SQLITE_STATEMENT_LIMIT,
  ) {
    this.#kept = new RepeatedSql<Kept>(limit);
  }

  /** Sends `sql` as `db.run` (call `run`) or `db.all` would, with `callback`, kept prepared where it repeats. */
  send(sql: string, parameters: unknown[] | undefined, call: SqliteCall, callback: SqliteCallback): void {
    const values = parameters ?? [];
    // Kept, it was keepable: only values may be missing now, or runs no longer kept.
    const kept = this.#kept.get(sql);
    if (kept && kept.call === call && (values.length > 0 || kept.bare) && (call === 'all' || this.#runsKept)) {
      afterEarlierCalls(this.db, callback, () => {
        if (kept.gone) sendUnprepared(this.db, sql, parameters, call, callback);
        else this.#run(sql, kept, values, callback);
      });
      return;
    }
    if (kept || this.#closed || !this.#keepable(sql, values, call) || !this.#kept.repeats(sql)) {
      return sendUnprepared(this.db, sql, parameters, call, callback);
    }
    this.#prepare(sql, values, call, callback);
  }

  /**
   * Keeps no statement from here on, and finalizes every kept one once
   * what runs on the connection now has finished (ahead of a close() made
   * after this).
   */
  close(): void {
    this.#closed = true;
    const all = this.#kept.takeAll();
    for (const kept of all) kept.gone = true;
    if (all.length > 0) this.#afterCalls(() => all.forEach((kept) => kept.statement.finalize()));
  }

  /** How many statements are kept. */
  get size(): number {
    return this.#kept.size;
  }

  /**
   * Prepares `sql` (queued on the connection in order, as db.all's own
   * prepare would be) and runs it as soon as it is prepared. A failed
   * prepare reports its error to `callback` (node-sqlite3 then drops the
   * queued run without a call, and has finalized the statement) and keeps
   * nothing.
   */
  #prepare(sql: string, values: unknown[], call: SqliteCall, callback: SqliteCallback): void {
    const kept: Kept = {
      statement: new this.Statement(this.db, sql, (err) => {
        if (!err) return;
        kept.gone = true;
        this.#kept.delete(sql, kept);
        callback.call(kept.statement as sqlite3.RunResult, err);
      }),
      call,
      bare: !PARAMETER.test(sql),
      gone: false,
    };
    const given = this.#kept.keep(sql, kept);
    if (given) this.#giveUp(given);
    this.#run(sql, kept, values, callback);
  }

  /** Runs a kept statement; one that fails is given up (finalized, prepared afresh if it repeats). */
  #run(sql: string, kept: Kept, values: unknown[], callback: SqliteCallback): void {
    const answered: SqliteCallback = (err, rows) => {
      if (err && !kept.gone) {
        this.#kept.delete(sql, kept);
        this.#giveUp(kept);
      }
      callback.call(kept.statement as sqlite3.RunResult, err, rows);
    };
    if (kept.call === 'run') kept.statement.run(values, answered);
    else kept.statement.all(values, answered);
  }

  #giveUp(kept: Kept): void {
    kept.gone = true;
    this.#afterCalls(() => kept.statement.finalize());
  }

  /** Calls `fn` once nothing runs on the connection (never, if it is closed). */
  #afterCalls(fn: () => void): void {
    whenIdle(this.db, (err) => {
      if (!err) fn();
    });
  }

  #keepable(sql: string, values: unknown[], call: SqliteCall): boolean {
    if (values.length === 0 && PARAMETER.test(sql)) return false;
    if (NEVER_KEPT.test(sql)) {
      if (COUNT_CHANGES.test(sql)) this.#runsKept = false;
      return false;
    }
    return call === 'all' || (this.#runsKept && !RETURNING.test(sql));
  }
}

/** Sends `sql` on `db` as `db.run` (call `run`) or `db.all` would, with `callback`. */
export type SqliteSend = (
  db: sqlite3.Database,
  sql: string,
  parameters: unknown[] | undefined,
  call: SqliteCall,
  callback: SqliteCallback,
) => void;

/** `db.run` or `db.all`, as node-sqlite3 sends them: prepared, run and finalized. */
export const sendUnprepared: SqliteSend = (db, sql, parameters, call, callback) => {
  if (call === 'run') db.run(sql, parameters, callback);
  else db.all(sql, parameters, callback as (this: sqlite3.Statement, err: Error | null, rows: unknown[]) => void);
};

/**
 * Calls `fn` once every call made on `db` before has finished (at once,
 * synchronously, if none is in flight), with the error of a closed
 * connection; calls made after wait for what `fn` starts (`db.wait()`).
 */
export function whenIdle(db: sqlite3.Database, fn: (err: Error | null) => void): void {
  (db.wait as (cb: (err: Error | null) => void) => sqlite3.Database)(fn);
}

/**
 * Calls `next` once every call made on `db` before has finished (at once
 * if none is in flight), so that a call on a Statement of its own keeps
 * its place among the connection's calls; `callback` gets the error of a
 * closed connection, or of `next` throwing.
 */
export function afterEarlierCalls(db: sqlite3.Database, callback: SqliteCallback, next: () => void): void {
  whenIdle(db, (err) => {
    if (err) return callback.call(undefined as unknown as sqlite3.RunResult, err);
    try {
      next();
    } catch (thrown) {
      callback.call(undefined as unknown as sqlite3.RunResult, thrown as Error);
    }
  });
}
