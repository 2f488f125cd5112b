import type { QueryRunner } from 'typeorm';
import type { ColumnSpec, ConcreteType } from './column';

/**
 * Longest wait in ms for the DDL lock another process holds (creating tables
 * or running migrations) before table() or migrate() fails with
 * TimeoutError: long enough for a slow migration elsewhere, short enough
 * that a process stuck holding it is reported rather than waited on forever.
 */
export const DDL_LOCK_TIMEOUT = 120_000;

/**
 * What creating a table needs to know about the database: each dialect
 * provides it (the Dialect extends it), so that schema/ depends on this
 * interface rather than on the dialects.
 */
export interface SchemaIntrospector {
  /** The concrete type of a portable column type. */
  columnType(column: ColumnSpec): ConcreteType;
  /** Index names on a table, read from the database catalog. */
  indexNames(runner: QueryRunner, table: string): Promise<string[]>;
  /**
   * Runs table and index creation (`work`, which checks the catalog first)
   * so that no other connection or process creating the same tables can
   * interleave with it: postgres takes an advisory transaction lock, sqlite
   * begins with BEGIN IMMEDIATE. Given a runner outside a transaction, it
   * begins one and commits it; inside one (table() within transact()), it
   * runs there. On failure the caller rolls back. The wait for the lock is
   * bounded by `lockTimeout` ms (default {@link DDL_LOCK_TIMEOUT}; on
   * sqlite, by the connection's busy timeout): past it, TimeoutError, and
   * nothing was changed.
   */
  ddlTransaction<T>(runner: QueryRunner, work: () => Promise<T>, lockTimeout?: number): Promise<T>;
}
