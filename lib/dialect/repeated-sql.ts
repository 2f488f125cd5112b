/**
 * Which SQL a connection keeps prepared: SQL seen a second time, at most
 * `limit` of them, the least recently used given up first. One-off SQL (a
 * CREATE TABLE, a migration's statements) is seen once and never kept, so
 * it does not push out what repeats. Each dialect keeps its own kind of
 * value per SQL (a statement name on postgres, a node-sqlite3 Statement on
 * sqlite) and does what giving one up takes (DEALLOCATE, finalize).
 */
export class RepeatedSql<V> {
  /**
   * SQL → its value and when it was last used (a count of uses). A use
   * only writes that count: moving the entry to the end of the Map on each
   * use (delete, then set) cost about a microsecond a statement, and the
   * least recently used is looked for only when one must go.
   */
  readonly #kept = new Map<string, { readonly value: V; used: number }>();
  /** SQL seen once, not kept yet (bounded: cleared when it grows past 4 × limit). */
  readonly #seen = new Set<string>();
  #uses = 0;

  /** @param limit the most values kept. */
  constructor(readonly limit: number) {}

  /** The value kept for `sql` (now the most recently used), if any. */
  get(sql: string): V | undefined {
    const entry = this.#kept.get(sql);
    if (entry === undefined) return undefined;
    entry.used = ++this.#uses;
    return entry.value;
  }

  /**
   * Whether `sql`, not kept, is worth keeping now: true on its second
   * sight (and it is no longer counted as seen); the first time, it is
   * noted and false is returned.
   */
  repeats(sql: string): boolean {
    if (this.#seen.delete(sql)) return true;
    if (this.#seen.size >= this.limit * 4) this.#seen.clear();
    this.#seen.add(sql);
    return false;
  }

  /**
   * Keeps `value` for `sql` as the most recently used; returns the value
   * given up to make room for it (the least recently used), if any.
   */
  keep(sql: string, value: V): V | undefined {
    let given: V | undefined;
    if (!this.#kept.has(sql) && this.#kept.size >= this.limit) {
      let oldest: string | undefined;
      let least = Infinity;
      for (const [key, entry] of this.#kept) {
        if (entry.used < least) [oldest, least] = [key, entry.used];
      }
      given = this.#kept.get(oldest!)!.value;
      this.#kept.delete(oldest!);
    }
    this.#kept.set(sql, { value, used: ++this.#uses });
    return given;
  }

  /**
   * Gives up `sql`'s value (it went stale or failed), returning it; with
   * `only`, only if that is the value kept (not one kept since).
   */
  delete(sql: string, only?: V): V | undefined {
    const value = this.#kept.get(sql)?.value;
    if (only !== undefined && value !== only) return undefined;
    this.#kept.delete(sql);
    return value;
  }

  /** Takes every kept value out (the connection closes); what was seen is forgotten too. */
  takeAll(): V[] {
    const values = [...this.#kept.values()].map((e) => e.value);
    this.#kept.clear();
    this.#seen.clear();
    return values;
  }

  /** How many values are kept. */
  get size(): number {
    return this.#kept.size;
  }
}
