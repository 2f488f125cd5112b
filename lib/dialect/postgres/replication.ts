import type { ClientConfig } from 'pg';
import type { DataSource } from 'typeorm';
import type { DialectReplication, ReplicaProbe, ReplicaState } from '../dialect-replicas';
import { driverErrorCode } from '../driver-error';
import { isReadSql } from './read-sql';
import { loadDriver } from '../load-driver';
import { POSITION_SQL, trackCommitPositions } from '../typeorm/pg-commit-position';
import { destroySocket, type PgClient } from '../typeorm/pg-client';
import { pgPool } from '../typeorm/postgres-driver';

/** The probe session's name in pg_stat_activity. */
export const PROBE_APPLICATION_NAME = 'sasync-replica-probe';

/** read_only_sql_transaction (a write, or NOTIFY and the like during recovery); serialization_failure (a recovery conflict). */
const REFUSED = new Set(['25006', '40001']);

/** `16/B374D848` → 0x16B374D848. */
export function parsePosition(text: string): bigint | undefined {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!m) return undefined;
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/** 0x16B374D848 → `16/B374D848`. */
export function formatPosition(position: bigint): string {
  const hi = (position >> 32n).toString(16).toUpperCase();
  const lo = (position & 0xffffffffn).toString(16).toUpperCase();
  return `${hi}/${lo}`;
}

function parsed(text: string): bigint {
  const position = parsePosition(text);
  if (position === undefined) throw new Error(`postgres gave a WAL position sasync cannot read: ${text}`);
  return position;
}

const STATE_SQL =
  'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS replayed, ' +
  'pg_postmaster_start_time()::text AS started';

/**
 * A pg.Client of its own on the replica (never a pooled one: a probe while
 * reads wait must not wait behind them), connected at its first state()
 * and again after its connection was lost; its socket does not keep the
 * process alive.
 */
function openProbe(ds: DataSource): ReplicaProbe {
  const options = pgPool(ds)?.options ?? {};
  const config: ClientConfig = {
    ...options,
    application_name: PROBE_APPLICATION_NAME,
    connectionTimeoutMillis: options.connectionTimeoutMillis || 5000,
    query_timeout: 5000,
    keepAlive: true,
  };
  let client: Promise<PgClient> | undefined;
  let closed = false;
  const connect = (): Promise<PgClient> => {
    const { Client } = loadDriver('pg');
    const c = new Client(config) as unknown as PgClient;
    const forget = () => {
      if (client === connecting) client = undefined;
    };
    c.on('error', forget);
    c.on('end', forget);
    const connecting = c.connect().then(() => {
      (c as unknown as { unref?(): void }).unref?.();
      return c;
    });
    connecting.catch(forget);
    return connecting;
  };
  return {
    async state(): Promise<ReplicaState> {
      if (closed) throw new Error('the replica probe is closed');
      const c = await (client ??= connect());
      try {
        const result = (await c.query(STATE_SQL)) as {
          rows: { recovery: boolean; replayed: string | null; started: string }[];
        };
        const row = result.rows[0];
        if (!row) throw new Error('the replica probe got no row');
        return {
          inRecovery: row.recovery,
          replayed: row.replayed === null ? undefined : parsed(row.replayed),
          startedAt: row.started,
        };
      } catch (err) {
        // A session that failed is not trusted again: the next state() connects anew.
        if (client) void client.then((s) => s === c && destroySocket(c)).catch(() => undefined);
        client = undefined;
        throw err;
      }
    },
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      const session = await c?.catch(() => undefined);
      // Held again while it ends: an unref'd socket would let the process exit mid-shutdown.
      (session as { ref?(): void } | undefined)?.ref?.();
      await session?.end().catch(() => destroySocket(session));
    },
  };
}

/** Streaming replication on postgres: commit positions on the primary, replay positions on replicas. */
export const postgresReplication: DialectReplication = {
  trackCommits(ds, onCommit) {
    const pool = pgPool(ds);
    if (!pool) return () => undefined;
    return trackCommitPositions(pool, (text) => onCommit(text.then(parsed)), isReadSql);
  },
  async currentPosition(ds) {
    const rows = (await ds.query(POSITION_SQL)) as { lsn: string }[];
    return parsed(rows[0]?.lsn ?? '');
  },
  openProbe,
  formatPosition,
  parsePosition,
  isRead: isReadSql,
  replicaRefusal: (error) => (REFUSED.has(driverErrorCode(error) ?? '') ? 'refused' : undefined),
};
