import { InvalidKeyError } from '../errors';
import { MAX_KEY_LENGTH, unstorableText } from './keys';

/** One coordinate of a PersistentArray element. */
export type Coordinate = string | number | null;

/**
 * A coordinate as stored: tagged with its type so that 1, '1' and null stay
 * three different places and every column is non-null (a unique index treats
 * NULLs as all different).
 * @throws InvalidKeyError for anything but a string, a finite number or null.
 */
export function coordinateText(c: unknown, group: string): string {
  if (c === null) return '~';
  if (typeof c === 'number') {
    if (!Number.isFinite(c)) throw new InvalidKeyError(c, group, 'a coordinate number must be finite');
    return `n${c}`;
  }
  if (typeof c !== 'string') throw new InvalidKeyError(c, group, 'a coordinate is a string, a number or null');
  if (c.length > MAX_KEY_LENGTH - 1) {
    throw new InvalidKeyError(c, group, `a coordinate string has at most ${MAX_KEY_LENGTH - 1} characters`);
  }
  const bad = unstorableText(c);
  if (bad) throw new InvalidKeyError(c, group, bad);
  return `s${c}`;
}

/** A coordinate as it was given, from its stored text (see {@link coordinateText}). */
export function coordinateOf(text: string): Coordinate {
  if (text === '~') return null;
  return text.startsWith('n') ? Number(text.slice(1)) : text.slice(1);
}

/** An element's coordinates. */
export type Coordinates = readonly [x: Coordinate, y: Coordinate, z: Coordinate];
