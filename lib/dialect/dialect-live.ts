/** A table a live query reads: its schema (postgres; undefined on sqlite, where it is `main`) and name. */
export interface TableRef {
  /** Its postgres schema; undefined on sqlite, and on postgres for the table the search path finds. */
  readonly schema?: string;
  /** Its name, as the database has it (not quoted). */
  readonly name: string;
}

/** Runs one statement in the caller's transaction and gives its rows. */
export type LiveQueryRunner = (sql: string, parameters: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/** What live queries need from a dialect. */
export interface DialectLive {
  /**
   * The tables `sql` reads, found by the database rather than from the SQL
   * text (postgres: the relations of `EXPLAIN (FORMAT JSON)`, views and
   * subqueries expanded; sqlite: the b-trees `EXPLAIN` opens for reading,
   * mapped to their tables through sqlite_schema), run through `query` in
   * the caller's transaction. Each table once, in a stable order.
   * @throws LiveQueryError 'not-a-query' when it writes or is not a query,
   *   'no-tables' when it reads no table, 'unwatchable-table' for a table
   *   whose changes cannot be captured (a catalog, a foreign or virtual table).
   */
  readTables(query: LiveQueryRunner, sql: string, parameters: readonly unknown[]): Promise<TableRef[]>;
}
