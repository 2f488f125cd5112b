import type { DialectReadOnly, DialectReplication } from './dialect-replicas';
import { postgresReadOnly } from './postgres/read-only-transaction';
import { postgresReplication } from './postgres/replication';
import { sqliteReadOnly } from './sqlite/read-only-transaction';

export type { DialectReadOnly, DialectReplication, ReplicaProbe, ReplicaState } from './dialect-replicas';

const READ_ONLY: Record<string, DialectReadOnly> = { postgres: postgresReadOnly, sqlite: sqliteReadOnly };
const REPLICATION: Record<string, DialectReplication | undefined> = { postgres: postgresReplication };

/** The read-only transactions of the dialect named `name`. */
export function readOnlyOf(name: string): DialectReadOnly {
  const part = READ_ONLY[name];
  if (!part) throw new TypeError(`no read-only transactions for database type ${name}`);
  return part;
}

/** The replication part of the dialect named `name`; undefined where there is none (sqlite). */
export function replicationOf(name: string): DialectReplication | undefined {
  return REPLICATION[name];
}
