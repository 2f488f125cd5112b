import type { TableRef } from '../dialect/dialect-live';
import { checkPriority } from '../scheduler/priority';
import type { LiveOptions } from './types';

/** The default throttle (ms): PowerSync's, and about two frames of a UI. */
export const DEFAULT_THROTTLE_MS = 30;
/** The longest throttle (ms) a live query takes. */
export const MAX_THROTTLE_MS = 60_000;

/**
 * Checks a live query's options at the call, before anything runs.
 * @throws RangeError for a throttle out of 0…60,000 ms or a bad niceness;
 *   TypeError for a key that is neither a column name nor a function, a
 *   signal that is not an AbortSignal, or tables that are not names.
 */
export function checkLiveOptions(options: LiveOptions<never> | undefined): void {
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) throw new TypeError('live() options must be an object');
  checkPriority(options);
  const { throttle, key, signal, tables } = options;
  if (
    throttle !== undefined &&
    !(typeof throttle === 'number' && Number.isFinite(throttle) && throttle >= 0 && throttle <= MAX_THROTTLE_MS)
  ) {
    throw new RangeError(
      `throttle must be a number of milliseconds from 0 to ${MAX_THROTTLE_MS} (at most one re-query per throttle), not ${String(throttle)}`,
    );
  }
  if (key !== undefined && typeof key !== 'function' && !(typeof key === 'string' && key.length > 0)) {
    throw new TypeError('key must be a column name or a function of a row (what identifies a row in the result)');
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if (tables !== undefined) {
    if (!Array.isArray(tables) || tables.length === 0) {
      throw new TypeError(
        'tables must be a non-empty array of table names (the tables whose changes re-run the query)',
      );
    }
    for (const t of tables) tableRef(t);
  }
}

/**
 * A `tables` entry as a TableRef: `name`, or `schema.name` on postgres. Names
 * are looked up in the database and quoted where used, never spliced.
 * @throws TypeError for anything but a plain name.
 */
export function tableRef(text: unknown): TableRef {
  const parts = typeof text === 'string' ? text.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every(plainName)) {
    throw new TypeError(
      `tables: ${JSON.stringify(text)} is not a table name (a name, or schema.name on postgres, without quotes)`,
    );
  }
  return parts.length === 1 ? { name: parts[0]! } : { schema: parts[0]!, name: parts[1]! };
}

/** 1 to 63 characters, none of them a control character or a double quote. */
function plainName(part: string): boolean {
  return part.length > 0 && part.length <= 63 && [...part].every((c) => c >= ' ' && c !== '"');
}
