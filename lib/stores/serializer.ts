import { DevalueError, parse, stringify } from 'devalue';
import { SerializationError } from '../errors';

/**
 * Turns values into text for the `value` column and back. Pluggable per
 * store; `encode` must throw {@link SerializationError} for a value it cannot
 * store, before anything is written.
 */
export interface Serializer {
  /** The text stored for `value`; throws {@link SerializationError} if it cannot be stored. */
  encode(value: unknown): string;
  /** The value `encode` was given, from its text. */
  decode(text: string): unknown;
}

// devalue has no Buffer of its own (it would come back as a plain Uint8Array).
// In an array, because a reducer's falsy result (an empty Buffer's '') means "not mine".
const reducers = { Buffer: (value: unknown) => Buffer.isBuffer(value) && [value.toString('base64')] };
const revivers = { Buffer: ([base64]: [string]) => Buffer.from(base64, 'base64') };

/**
 * The default: devalue, JSON text with types JSON lacks (Date, Map, Set,
 * BigInt, RegExp, typed arrays and ArrayBuffer, -0, NaN, ±Infinity,
 * `undefined`, sparse arrays, shared and cyclic references) plus Buffer.
 * `undefined` properties are kept, as structuredClone keeps them. Functions,
 * symbols and class instances fail with the path to the culprit.
 */
export const devalueSerializer: Serializer = {
  encode(value) {
    try {
      return stringify(value, reducers);
    } catch (cause) {
      if (!(cause instanceof DevalueError)) throw encodingFailed(cause);
      const path = cause.path || '(the value itself)';
      throw new SerializationError(
        `cannot store the value at ${path}: ${describe(cause.value)} has no plain form. ` +
          'Store plain data: objects, arrays, primitives, Date, Map, Set, BigInt, Buffer and typed arrays; ' +
          'or give the store a serializer that knows this type.',
        { cause, path },
      );
    }
  },
  decode(text) {
    try {
      return parse(text, revivers);
    } catch (cause) {
      throw new SerializationError(
        `cannot read a stored value (${messageOf(cause)}): it is not devalue text, or nested too deeply to read back`,
        { cause },
      );
    }
  },
};

/**
 * Anything else that fails while a value is encoded (a getter that throws,
 * nesting deep enough to overflow the stack, a Proxy's trap): the value
 * cannot be stored, whatever the reason.
 */
export function encodingFailed(cause: unknown): SerializationError {
  if (cause instanceof SerializationError) return cause;
  const reason =
    cause instanceof RangeError
      ? 'it is nested too deeply (or too large) to encode'
      : 'reading it failed, in a getter, a proxy or a custom serializer';
  return new SerializationError(
    `cannot store the value: ${reason} (${messageOf(cause)}). Store plain data; nothing was written.`,
    { cause },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `a function${value.name ? ` ${value.name}` : ''}`;
  if (typeof value === 'symbol') return `a symbol ${String(value)}`;
  if (typeof value === 'object' && value !== null) {
    const name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name;
    return name ? `an instance of ${name}` : 'an object';
  }
  return typeof value;
}
