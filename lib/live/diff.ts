import { isDeepStrictEqual } from 'node:util';
import { LiveQueryError } from '../errors';
import type { LiveDiff } from './types';

/** What identifies a row: its key as given, made comparable (a Map key). */
export type RowKey<T> = (row: T, index: number) => string;

/**
 * The key function of a live query: the `key` column or function, or (none
 * given) the row's whole content, numbered among equal rows so that a
 * result may hold the same row twice.
 */
export function rowKey<T>(key: string | ((row: T) => unknown) | undefined): RowKey<T> | undefined {
  if (key === undefined) return undefined;
  if (typeof key === 'function') return (row) => keyText(key(row));
  return (row) => keyText((row as Record<string, unknown>)[key]);
}

/** A key value as text: its type and value, so that 1 and '1' stay apart. */
function keyText(value: unknown): string {
  if (value instanceof Date) return `date:${value.toISOString()}`;
  if (value === null || typeof value !== 'object') return `${typeof value}:${String(value)}`;
  return `json:${JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`;
}

/** The rows by key; equal contents numbered when there is no key. */
function byKey<T>(rows: readonly T[], key: RowKey<T> | undefined, keyName: string, sql: string): Map<string, T> {
  const map = new Map<string, T>();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    if (key) {
      const k = key(row, i);
      if (map.has(k)) {
        throw new LiveQueryError(
          'duplicate-key',
          sql,
          `live(): key ${keyName} is not unique in the result (${k.slice(k.indexOf(':') + 1)} appears twice): ` +
            'give a key that identifies one row, such as the primary key',
        );
      }
      map.set(k, row);
    } else {
      const content = keyText(row);
      let n = 0;
      while (map.has(`${content}#${n}`)) n++;
      map.set(`${content}#${n}`, row);
    }
  }
  return map;
}

/**
 * How `next` differs from `previous` by key (every row added when there is
 * no previous), or undefined when the rows are the same, in the same order.
 * @throws LiveQueryError 'duplicate-key' when the key is not unique in `next`.
 */
export function diffRows<T>(
  previous: readonly T[] | undefined,
  next: readonly T[],
  key: RowKey<T> | undefined,
  keyName: string,
  sql: string,
): LiveDiff<T> | undefined {
  // The same rows as before (most re-runs): no map to build, and their keys were checked then.
  if (previous !== undefined && isDeepStrictEqual(previous, next)) return undefined;
  const after = byKey(next, key, keyName, sql);
  if (previous === undefined) return { added: [...next], removed: [], changed: [] };
  const before = byKey(previous, key, keyName, sql);
  const added: T[] = [];
  const changed: { before: T; after: T }[] = [];
  for (const [k, row] of after) {
    const old = before.get(k);
    if (old === undefined) added.push(row);
    else if (!isDeepStrictEqual(old, row)) changed.push({ before: old, after: row });
  }
  const removed = [...before].filter(([k]) => !after.has(k)).map(([, row]) => row);
  return { added, removed, changed };
}
