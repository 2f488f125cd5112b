import { RepeatedSql } from '../repeated-sql';

/**
 * The first part of every statement name this process gives: `sasync_` and
 * 6 random base36 characters, so that two processes behind a pooler that
 * hands one server connection to several clients (pgbouncer in transaction
 * mode) do not give the same name; a collision then fails with 26000 or
 * 42P05 (which a pooler in that mode gives anyway) rather than running
 * another client's statement.
 */
export const STATEMENT_PREFIX = `sasync_${Math.random().toString(36).slice(2, 8).padEnd(6, '0')}`;

/** Clients given a cache so far in this process: each one's number goes in its names. */
let clients = 0;

/**
 * Which SQL one postgres connection sends as a named prepared statement:
 * SQL seen a second time on the connection, at most `limit` statements,
 * the least recently used given up first. Names are
 * `<STATEMENT_PREFIX>_<client>_<n>` (at most 47 characters: within
 * postgres' 63), never reused in the process, so a statement
 * the server still holds (one whose DEALLOCATE has not run yet) can never
 * collide with a new one.
 */
export class StatementCache {
  /** SQL → its statement name. */
  readonly #named: RepeatedSql<string>;
  /** Names given up whose DEALLOCATE has not been sent yet. */
  readonly #stale: string[] = [];
  #next = 0;
  /** This cache's (this client's) number in the process. */
  readonly #client = ++clients;

  /** @param limit the most statements kept prepared on the connection. */
  constructor(readonly limit = 100) {
    this.#named = new RepeatedSql(limit);
  }

  /** The name to send `sql` under: undefined the first time it is seen. */
  nameFor(sql: string): string | undefined {
    const name = this.#named.get(sql);
    if (name !== undefined) return name;
    if (!this.#named.repeats(sql)) return undefined;
    const fresh = `${STATEMENT_PREFIX}_${this.#client}_${++this.#next}`;
    const given = this.#named.keep(sql, fresh);
    if (given !== undefined) this.#stale.push(given);
    return fresh;
  }

  /** Gives up `sql`'s statement (the server refused it): its name is to be deallocated. */
  forget(sql: string, deallocate: boolean): void {
    const name = this.#named.delete(sql);
    if (name !== undefined && deallocate) this.#stale.push(name);
  }

  /** Gives back a name whose DEALLOCATE failed: it is sent again with the next statement. */
  retry(name: string): void {
    this.#stale.push(name);
  }

  /** The names to DEALLOCATE now, taken out of the cache's hands. */
  takeStale(): string[] {
    return this.#stale.splice(0);
  }

  /** How many statements are prepared (or about to be). */
  get size(): number {
    return this.#named.size;
  }
}
