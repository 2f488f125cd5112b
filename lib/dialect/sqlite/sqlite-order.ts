/**
 * Compares two values the way sqlite orders them under the BINARY collation,
 * so that a keyset stream accepts exactly the keys sqlite itself sorted:
 * NULL first, then numbers (integers and reals by value), then text by its
 * UTF-8 bytes, then blobs by their bytes. JavaScript's `<` on strings compares
 * UTF-16 code units instead, which puts U+10000 and above (emoji: surrogate
 * pairs, 0xD800–0xDFFF) before U+E000–U+FFFF, where sqlite puts them after.
 * Returns a negative number, 0 or a positive number.
 */
export function compareSqlite(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case NUMERIC:
      return compareNumbers(a as number | bigint, b as number | bigint);
    case TEXT:
      return compareCodePoints(a as string, b as string);
    case BLOB:
      return Buffer.compare(a as Uint8Array, b as Uint8Array);
    default:
      return 0;
  }
}

const NULL = 0;
const NUMERIC = 1;
const TEXT = 2;
const BLOB = 3;

function rank(value: unknown): number {
  if (value === null || value === undefined) return NULL;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return NUMERIC;
  if (typeof value === 'string') return TEXT;
  if (value instanceof Uint8Array) return BLOB;
  // Nothing else comes back from sqlite; compare as its text, as a last resort.
  return TEXT;
}

function compareNumbers(a: number | bigint, b: number | bigint): number {
  // < and > compare a bigint with a number exactly; subtraction would mix types.
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Code-point order, which is UTF-8 byte order, without encoding: strings are
 * compared by UTF-16 code units up to the first difference, and only there a
 * surrogate (part of a code point above U+FFFF) counts as above U+E000–U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const sa = String(a);
  const sb = String(b);
  const n = Math.min(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    const ca = sa.charCodeAt(i);
    const cb = sb.charCodeAt(i);
    if (ca !== cb) return codePointRank(ca) - codePointRank(cb);
  }
  return sa.length - sb.length;
}

/** Moves surrogates (0xD800–0xDFFF) above 0xE000–0xFFFF, keeping the order within each range. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit <= 0xdfff ? unit + 0x2000 : unit - 0x800;
}
