import { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import { until } from './streams';
import { PG_URL } from './targets';

/**
 * Resolves once `sql`, sent by the work of `tx`, is running in the database:
 * on postgres once pg_stat_activity shows it active on the transaction's
 * backend; on sqlite at its trace event, which the connection sends once the
 * statement has begun stepping. Start it right after calling this: a spec
 * that moves a virtual clock to cancel a statement must know that it runs,
 * or the interrupt would find nothing to interrupt and the statement would
 * run on for its full length.
 */
export function statementRunning(tx: EntityManager, dialect: 'sqlite' | 'postgres', sql: string): Promise<void> {
  // The transaction's own pg client; sqlite's one connection, TypeORM's driver's.
  const owner = dialect === 'postgres' ? tx.queryRunner : tx.connection.driver;
  const connection = (owner as unknown as { databaseConnection: unknown }).databaseConnection;
  return dialect === 'postgres' ? activeOnBackend(connection as { processID: number }, sql) : traced(connection, sql);
}

async function activeOnBackend(client: { processID: number }, sql: string): Promise<void> {
  const observer = new Client({ connectionString: PG_URL });
  await observer.connect();
  try {
    await until(async () => {
      const { rows } = await observer.query(
        `SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query = $2`,
        [client.processID, sql],
      );
      return rows.length > 0;
    }, `${sql} runs on backend ${client.processID}`);
  } finally {
    await observer.end();
  }
}

function traced(connection: unknown, sql: string): Promise<void> {
  const db = connection as {
    on(event: 'trace', fn: (sql: string) => void): void;
    off(event: 'trace', fn: (sql: string) => void): void;
  };
  return new Promise((resolve) => {
    const onTrace = (ran: string) => {
      if (ran !== sql) return;
      db.off('trace', onTrace);
      resolve();
    };
    db.on('trace', onTrace);
  });
}
