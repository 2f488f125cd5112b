import { bindAll, memoCount, Refusal, type ParameterKind } from '../parameters';
import type { JsonParameter } from '../json-parameter';
import { sqlitePlaceholderCount } from './placeholders';

const placeholders = memoCount(sqlitePlaceholderCount);

/**
 * Parameters as node-sqlite3 must get them to store them unchanged, checked
 * against the SQL's placeholders. Returns `parameters` itself when nothing
 * changes.
 * @throws InvalidParameterError
 */
export function bindSqlite(parameters: readonly unknown[], sql: string): unknown[] {
  return bindAll(parameters, sql, placeholders(sql), bindOne);
}

function bindOne(value: unknown, kind: ParameterKind): unknown {
  switch (kind) {
    case 'null':
      return null;
    case 'number':
      return Number.isNaN(value)
        ? new Refusal('is NaN, which sqlite stores as NULL', 'pass null for a missing number, or a finite number')
        : value;
    case 'bigint':
      return bigintValue(value as bigint);
    case 'date':
      return utcDatetime(value as Date);
    case 'bytes':
      return Buffer.isBuffer(value) ? value : toBuffer(value as Uint8Array);
    case 'json':
      return (value as JsonParameter).text;
    case 'array':
      return new Refusal(
        'is array(…), but sqlite has no array type',
        'wrap it with json(values) to store it as JSON text',
      );
    default:
      return value;
  }
}

/**
 * node-sqlite3 binds a BigInt as NULL. Within 2^53 a Number is exact; beyond,
 * its decimal text, which a column of integer affinity stores as the exact
 * 64-bit integer (and a bare `SELECT ?` returns as that text).
 */
function bigintValue(n: bigint): number | string {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * TypeORM's own sqlite format for dates (`2026-11-21 01:02:03.000`, UTC): the
 * same text its QueryBuilder and entities write and that sqlite's datetime()
 * produces, so stored dates compare and sort consistently.
 */
function utcDatetime(date: Date): string {
  return date.toISOString().replace('T', ' ').replace('Z', '');
}
