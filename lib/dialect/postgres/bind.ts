import { bindAll, bindElements, memoCount, Refusal, type ParameterKind } from '../parameters';
import type { ArrayParameter } from '../array-parameter';
import type { JsonParameter } from '../json-parameter';
import { postgresPlaceholderCount } from './placeholders';

const placeholders = memoCount(postgresPlaceholderCount);

/**
 * Parameters as node-postgres must get them to store them unchanged, checked
 * against the SQL's `$n`. pg sends every value as text: Dates, booleans,
 * BigInts and NaN/±Infinity (as 'NaN', 'Infinity') it renders exactly itself.
 * Returns `parameters` itself when nothing changes.
 * @throws InvalidParameterError
 */
export function bindPostgres(parameters: readonly unknown[], sql: string): unknown[] {
  return bindAll(parameters, sql, placeholders(sql), bindOne);
}

function bindOne(value: unknown, kind: ParameterKind): unknown {
  switch (kind) {
    case 'null':
      return null;
    case 'string':
      return (value as string).includes('\0')
        ? new Refusal(
            'is text with a NUL character (\\u0000), which postgres text cannot hold',
            'remove it, or store the bytes as a Buffer in a bytea column',
          )
        : value;
    case 'number':
      // pg renders -0 as '0'; a float column keeps the sign when told '-0'.
      return Object.is(value, -0) ? '-0' : value;
    case 'bytes':
      return Buffer.isBuffer(value)
        ? value
        : Buffer.from((value as Uint8Array).buffer, (value as Uint8Array).byteOffset, (value as Uint8Array).byteLength);
    case 'json':
      return (value as JsonParameter).text;
    // pg renders a JavaScript array as an array literal, element by element.
    case 'array':
      return bindElements((value as ArrayParameter).values, bindOne);
    default:
      return value;
  }
}
