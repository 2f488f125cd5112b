import type sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner } from 'typeorm';
import type { DialectStatements, PreparedStatement } from '../dialect';
import { statementError } from '../driver-error';
import { insertSql } from '../sql';
import { sqliteConnection } from '../typeorm/sqlite-driver';
import { bindSqlite } from './bind';
import { placeholder } from './placeholders';
import { afterEarlierCalls } from './statement-cache';

/** Prepared statements, per sqlite connection. */
const statements = new WeakMap<sqlite3.Database, Map<string, Promise<sqlite3.Statement>>>();

export const sqliteStatements: DialectStatements = {
  async insertRow(runner, table, row, key) {
    const sql = insertSql(table, Object.keys(row), placeholder, key);
    const rows: Record<string, unknown>[] = await runner.query(sql, Object.values(row));
    return key ? (rows[0]?.[key] ?? null) : null;
  },

  async runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]> {
    const values = bindSqlite(parameters, statement.sql);
    const db = sqliteConnection(runner.connection);
    if (!db) throw new Error('the DataSource is not initialized');
    let cache = statements.get(db);
    if (!cache) statements.set(db, (cache = new Map()));
    let prepared = cache.get(statement.id);
    if (!prepared) {
      // With a callback: without one, node-sqlite3 reports a syntax error as
      // an 'error' event and the broken statement never answers again.
      prepared = new Promise<sqlite3.Statement>((resolve, reject) => {
        const stmt: sqlite3.Statement = db.prepare(statement.sql, (err: Error | null) =>
          err ? reject(statementError(err, statement.sql, parameters)) : resolve(stmt),
        );
      });
      cache.set(statement.id, prepared);
      const forget = cache;
      prepared.catch(() => forget.delete(statement.id));
    }
    const stmt = await prepared;
    return new Promise((resolve, reject) => {
      const callback = (err: Error | null, rows?: unknown[]) =>
        err ? reject(statementError(err, statement.sql, parameters)) : resolve(rows ?? []);
      // In its place after the calls made on the connection before it (see afterEarlierCalls).
      afterEarlierCalls(db, callback, () => stmt.all(values, callback));
    });
  },

  async releasePrepared(ds: DataSource): Promise<void> {
    if (!ds.isInitialized) return;
    const db = sqliteConnection(ds);
    const cache = db && statements.get(db);
    if (db) statements.delete(db);
    const prepared = await Promise.all([...(cache?.values() ?? [])].map((p) => p.catch(() => undefined)));
    await Promise.all(prepared.map((s) => s && new Promise<void>((r) => s.finalize(() => r()))));
  },
};
