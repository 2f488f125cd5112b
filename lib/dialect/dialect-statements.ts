import type { DataSource, QueryRunner } from 'typeorm';

/** A statement to prepare once per connection. */
export interface PreparedStatement {
  /** Its name on the server (derived from the SQL). */
  readonly id: string;
  readonly sql: string;
}

/** Statements sasync runs on the driver itself rather than through TypeORM's query(). */
export interface DialectStatements {
  /**
   * Inserts one row (names already validated, values bound) and resolves with
   * the value of its `key` column (undefined key: null).
   */
  insertRow(
    runner: QueryRunner,
    table: string,
    row: Readonly<Record<string, unknown>>,
    key: string | undefined,
  ): Promise<unknown>;
  /** Runs a prepared statement on the runner's connection, preparing it there first if needed. */
  runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]>;
  /** Frees what prepared statements hold before the DataSource closes. */
  releasePrepared(ds: DataSource): Promise<void>;
}
