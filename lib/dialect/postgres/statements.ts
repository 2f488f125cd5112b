import type { QueryRunner } from 'typeorm';
import type { DialectStatements, PreparedStatement } from '../dialect';
import { statementError } from '../driver-error';
import type { PooledClient } from '../typeorm/pg-client';
import { insertSql } from '../sql';
import { bindPostgres } from './bind';
import { placeholder } from './placeholders';

export const postgresStatements: DialectStatements = {
  async insertRow(runner, table, row, key) {
    const sql = insertSql(table, Object.keys(row), placeholder, key);
    const rows: Record<string, unknown>[] = await runner.query(sql, Object.values(row));
    return key ? (rows[0]?.[key] ?? null) : null;
  },

  // pg keeps the names it has prepared per client and sends Parse only the
  // first time a client sees one; the server keeps it for the connection's life.
  async runPrepared(runner: QueryRunner, statement: PreparedStatement, parameters: unknown[]): Promise<unknown[]> {
    const values = bindPostgres(parameters, statement.sql);
    // TypeORM's connect() resolves with the runner's pg client.
    const client = (await runner.connect()) as PooledClient;
    try {
      const result = await client.query({ name: statement.id, text: statement.sql, values });
      return result.rows;
    } catch (err) {
      throw statementError(err, statement.sql, parameters);
    }
  },

  // Closing the pool closes the connections, and with them their statements.
  releasePrepared: async () => undefined,
};
