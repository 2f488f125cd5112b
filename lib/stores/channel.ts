import { createHash } from 'node:crypto';
import type { DataSourceOptions } from 'typeorm';

/** Postgres truncates identifiers, channel names among them, to 63 bytes. */
const MAX_CHANNEL_BYTES = 63;

/**
 * The notice channel of a store table: the table's name, with the postgres
 * schema of the DataSource when it has one other than public, so that
 * stores separated by schema do not hear each other.
 */
export function storeChannel(table: string, options: DataSourceOptions): string {
  const schema = options.type === 'postgres' ? options.schema : undefined;
  if (!schema || schema === 'public') return table;
  const channel = `${table}@${schema}`;
  if (Buffer.byteLength(channel) <= MAX_CHANNEL_BYTES) return channel;
  return `${table}@${createHash('sha256').update(schema).digest('hex').slice(0, 40)}`;
}
