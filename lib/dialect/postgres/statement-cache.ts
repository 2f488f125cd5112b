/**
 * Which SQL one postgres connection sends as a named prepared statement:
 * SQL seen a second time on the connection, at most `limit` statements,
 * the least recently used given up first. Names are never reused on a
 * connection (a counter), so a statement the server still holds (one that
 * could not be deallocated yet) can never collide with a new one.
 */
export class StatementCache {
  /** SQL → its statement name, least recently used first. */
  readonly #named = new Map<string, string>();
  /** SQL seen once, not prepared yet (bounded: cleared when it grows past 4 × limit). */
  readonly #seen = new Set<string>();
  /** Names given up whose DEALLOCATE has not been sent yet. */
  readonly #stale: string[] = [];
  #next = 0;

  /** @param limit the most statements kept prepared on the connection. */
  constructor(readonly limit = 100) {}

  /** The name to send `sql` under: undefined the first time it is seen. */
  nameFor(sql: string): string | undefined {
    const name = this.#named.get(sql);
    if (name !== undefined) {
      // Most recently used last.
      this.#named.delete(sql);
      this.#named.set(sql, name);
      return name;
    }
    if (!this.#seen.has(sql)) {
      if (this.#seen.size >= this.limit * 4) this.#seen.clear();
      this.#seen.add(sql);
      return undefined;
    }
    this.#seen.delete(sql);
    if (this.#named.size >= this.limit) {
      const [oldest, oldName] = this.#named.entries().next().value as [string, string];
      this.#named.delete(oldest);
      this.#stale.push(oldName);
    }
    const fresh = `sasync_auto_${++this.#next}`;
    this.#named.set(sql, fresh);
    return fresh;
  }

  /** Gives up `sql`'s statement (the server refused it): its name is to be deallocated. */
  forget(sql: string, deallocate: boolean): void {
    const name = this.#named.get(sql);
    if (name === undefined) return;
    this.#named.delete(sql);
    if (deallocate) this.#stale.push(name);
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
