import { InvalidKeyError } from '../errors';

/** The longest group id or key, in characters (the columns are 255 wide). */
export const MAX_KEY_LENGTH = 255;

/**
 * Text the databases cannot keep as it is: NUL (postgres refuses it) and
 * lone surrogates (the drivers turn them into U+FFFD, so two keys would meet).
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what must be refused
const UNSTORABLE_TEXT = /\u0000|\p{Surrogate}/u;

/** Why `text` cannot be a stored key, or undefined when it can. */
export function unstorableText(text: string): string | undefined {
  return UNSTORABLE_TEXT.test(text)
    ? 'it contains a NUL character or a lone UTF-16 surrogate, which the databases cannot store as they are'
    : undefined;
}

/** The type of a store's keys: names are stored as text and read back as this. */
export type NameType = 'string' | 'number';

/** Key types by {@link NameType}. */
export interface KeyOf {
  string: string;
  number: number;
}

/**
 * A group id as stored: a string as it is, a number as String(n) (so
 * 7 and '7' are one group). Stable across processes and runs, unlike a hash.
 * @throws TypeError for anything but a non-empty string of at most 255
 *   characters or a finite number.
 */
export function groupText(id: unknown): string {
  if (typeof id === 'number') {
    if (!Number.isFinite(id)) throw new TypeError(`a group id must be a finite number or a string, not ${id}`);
    return String(id);
  }
  if (typeof id !== 'string') throw new TypeError(`a group id must be a string or a number, not ${typeOf(id)}`);
  if (id.length === 0 || id.length > MAX_KEY_LENGTH) {
    throw new TypeError(`a group id must have 1 to ${MAX_KEY_LENGTH} characters, not ${id.length}`);
  }
  const bad = unstorableText(id);
  if (bad) throw new TypeError(`a group id cannot be stored: ${bad}`);
  return id;
}

/**
 * A key as stored in the `name` column.
 * @throws InvalidKeyError when it is not of the store's name type, is empty,
 *   or is longer than the column.
 */
export function keyText(key: unknown, nameType: NameType, group: string): string {
  if (nameType === 'number') {
    if (typeof key !== 'number' || !Number.isFinite(key)) {
      throw new InvalidKeyError(key, group, `this store's keys are finite numbers (nameType 'number')`);
    }
    return String(key);
  }
  if (typeof key !== 'string') {
    throw new InvalidKeyError(key, group, `this store's keys are strings (pass nameType: 'number' for numbers)`);
  }
  if (key.length === 0) throw new InvalidKeyError(key, group, 'a key cannot be empty');
  if (key.length > MAX_KEY_LENGTH) {
    throw new InvalidKeyError(key, group, `a key has at most ${MAX_KEY_LENGTH} characters, this one ${key.length}`);
  }
  const bad = unstorableText(key);
  if (bad) throw new InvalidKeyError(key, group, bad);
  return key;
}

/** A stored name read back as a key of the store's name type. */
export function keyFromText<N extends NameType>(text: string, nameType: N): KeyOf[N] {
  return (nameType === 'number' ? Number(text) : text) as KeyOf[N];
}

function typeOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
}
