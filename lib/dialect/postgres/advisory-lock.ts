import type { ClientConfig } from 'pg';
import type { DataSource } from 'typeorm';
import type { AdvisoryLockSession } from '../advisory-locks';
import { loadDriver } from '../load-driver';
import type { PgClient } from '../typeorm/pg-client';
import { unref } from '../typeorm/pg-client';
import { pgPool } from '../typeorm/postgres-driver';

/** The lock session's name in pg_stat_activity. */
export const LOCKS_APPLICATION_NAME = 'sasync-locks';

/**
 * The first key of every sasync advisory lock (the two-integer form), so
 * that its locks cannot collide with an application's one-bigint locks.
 */
const LOCK_SPACE = 0x5a5c;

/**
 * Session-level advisory locks (`pg_try_advisory_lock(space, hashtext(name))`)
 * on one `pg.Client` of their own, never a pooled one: a pooled session
 * would go back to the pool with its locks, and a transaction-level lock
 * would hold a pool connection for as long as the lock is held. The server
 * drops the locks when the connection ends, on close(), a lost connection,
 * or the process being killed. A lost connection is replaced at the next
 * tryLock.
 */
export function openPgAdvisoryLocks(ds: DataSource): AdvisoryLockSession {
  const config: ClientConfig = {
    ...(pgPool(ds)?.options ?? {}),
    application_name: LOCKS_APPLICATION_NAME,
    connectionTimeoutMillis: pgPool(ds)?.options.connectionTimeoutMillis || 10_000,
    keepAlive: true,
  };
  let client: Promise<PgClient> | undefined;
  let closed = false;
  let inFlight = 0;

  /**
   * Runs one statement with the socket ref'd: a caller waiting for a lock
   * keeps the process alive, an idle session does not (like the bus's).
   */
  async function send(c: PgClient, sql: string, values: unknown[]): Promise<unknown> {
    const socket = c as unknown as { ref?(): void; unref?(): void };
    if (inFlight++ === 0) socket.ref?.();
    try {
      return await c.query(sql, values);
    } finally {
      if (--inFlight === 0) socket.unref?.();
    }
  }

  function connect(): Promise<PgClient> {
    const { Client } = loadDriver('pg');
    const c = new Client(config) as unknown as PgClient;
    const forget = () => {
      if (client === connected) client = undefined;
    };
    // Without an 'error' listener a dropped connection crashes the process.
    c.on('error', forget);
    c.on('end', forget);
    const connected = c.connect().then(() => {
      // Holding locks is no work of the program's own: it still exits when done.
      unref(c);
      return c;
    });
    connected.catch(forget);
    return connected;
  }

  return {
    async tryLock(name) {
      if (closed) throw new Error('the advisory lock session is closed');
      client ??= connect();
      const c = await client;
      const rows = (await send(c, 'SELECT pg_try_advisory_lock($1, hashtext($2)) AS got', [LOCK_SPACE, name])) as {
        rows: { got: boolean }[];
      };
      return rows.rows[0]?.got === true;
    },
    async unlock(name) {
      const c = await client?.catch(() => undefined);
      if (!c) return;
      await send(c, 'SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, name]).catch(() => undefined);
    },
    async close() {
      closed = true;
      const c = await client?.catch(() => undefined);
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
