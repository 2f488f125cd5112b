import { InvalidSpecError } from '../errors';

/**
 * A one-time copy of an object's own enumerable fields: each getter is read
 * once, so what is checked is what is used. Refuses what is not an object
 * (null, arrays, primitives, functions).
 */
export function plainCopy(
  table: string,
  column: string | undefined,
  field: string,
  value: unknown,
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidSpecError(table, column, field, `must be an object, not ${describe(value)}`);
  }
  try {
    return { ...(value as Record<string, unknown>) };
  } catch (cause) {
    // A getter or Proxy that throws: nothing of it can be trusted.
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new InvalidSpecError(table, column, field, `could not be read (${reason})`);
  }
}

/** A one-time copy of an array (each element read once), refusing one that cannot be read. */
export function copyList(table: string, field: string, list: readonly unknown[]): unknown[] {
  try {
    return Array.from(list);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new InvalidSpecError(table, undefined, field, `could not be read (${reason})`);
  }
}

/** A value for an error message: short, and never the whole of a long string. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `(${typeof value})`;
}
