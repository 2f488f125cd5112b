import type sqlite3 from 'sqlite3';
import type { DataSource, QueryRunner } from 'typeorm';
import type { DialectStatements, PreparedStatement } from '../dialect';
import { statementError } from '../driver-error';
import { insertSql } from '../sql';
import { sqliteConnection } from '../typeorm/sqlite-driver';
import { bindSqlite } from './bind';
import { placeholder } from './placeholders';
import { afterEarlierCalls, whenIdle } from './statement-cache';

/**
 * A prepare()d statement on one connection: the Statement, prepared in the
 * connection's order, and its prepare's error once it has failed.
 */
interface Prepared {
  readonly statement: sqlite3.Statement;
  failed?: Error;
}

/** Prepared statements, per sqlite connection. */
const statements = new WeakMap<sqlite3.Database, Map<string, Prepared>>();

export const sqliteStatements: DialectStatements = {
  async insertRow(runner, table, row, key) {
    const sql = insertSql(table, Object.keys(row), placeholder, key);
    const rows: Record<string, unknown>[] = await runner.query(sql, Object.values(row));
    return key ? (rows[0]?.[key] ?? null) : null;
  },

  runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]> {
    let values: unknown[];
    try {
      values = bindSqlite(parameters, statement.sql);
    } catch (err) {
      return Promise.reject(err);
    }
    const db = sqliteConnection(runner.connection);
    if (!db) return Promise.reject(new Error('the DataSource is not initialized'));
    let cache = statements.get(db);
    if (!cache) statements.set(db, (cache = new Map()));
    let prepared = cache.get(statement.id);
    if (!prepared) {
      const made: Prepared = {
        // With a callback: without one, node-sqlite3 reports a syntax error as
        // an 'error' event and the broken statement never answers again.
        statement: db.prepare(statement.sql, (err: Error | null) => {
          if (!err) return;
          made.failed = err;
          if (cache.get(statement.id) === made) cache.delete(statement.id);
        }),
      };
      cache.set(statement.id, (prepared = made));
    }
    const { statement: stmt } = prepared;
    const failed = () => prepared.failed;
    // Made here, before anything after this call: it runs in its place
    // among the connection's calls (see afterEarlierCalls), once prepared.
    return new Promise((resolve, reject) => {
      const callback = (err: Error | null, rows?: unknown[]) =>
        err ? reject(statementError(err, statement.sql, parameters)) : resolve(rows ?? []);
      afterEarlierCalls(db, callback, () => {
        const error = failed();
        if (error) callback(error);
        else stmt.all(values, callback);
      });
    });
  },

  async releasePrepared(ds: DataSource): Promise<void> {
    if (!ds.isInitialized) return;
    const db = sqliteConnection(ds);
    const cache = db && statements.get(db);
    if (!db || !cache) return;
    statements.delete(db);
    // Once nothing runs: finalizing takes the connection's mutex, which a running statement holds.
    await new Promise<void>((resolve) =>
      whenIdle(db, () => {
        for (const { statement, failed } of cache.values()) if (!failed) statement.finalize();
        resolve();
      }),
    );
  },
};
