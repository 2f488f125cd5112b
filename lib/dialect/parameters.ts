import { InvalidParameterError } from '../errors';
import { ArrayParameter } from './array-parameter';
import { JsonParameter } from './json-parameter';

/**
 * What a bound value is, once accepted. Each dialect's `bind` turns a kind
 * into what its driver binds exactly; anything else is refused here, because
 * a driver would change it without a word (node-sqlite3 binds a BigInt or a
 * Symbol as NULL and an object as '[object Object]'; pg binds a function as
 * its source text and an object as JSON).
 */
export type ParameterKind = 'null' | 'string' | 'number' | 'boolean' | 'bigint' | 'date' | 'bytes' | 'json' | 'array';

/** Why a value is refused, and what to do instead. */
export class Refusal {
  constructor(
    readonly reason: string,
    readonly hint: string,
  ) {}
}

/**
 * A value that TypeORM would rewrite before sasync sees it (on sqlite it
 * turns an invalid Date into 'NaN-NaN-NaN …' text and splices numbers, NaN
 * too, into the SQL), kept as it was so that it is checked, and refused with
 * its position, like any other parameter.
 */
export class Withheld {
  constructor(readonly value: unknown) {}
}

/** How one dialect binds a value of an accepted kind: the driver's value, or a Refusal. */
export type BindOne = (value: unknown, kind: ParameterKind) => unknown;

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;

/** Text that is not well-formed UTF-16: drivers encode it as UTF-8 with U+FFFD in its place. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const SCALARS = 'a string, number, boolean, bigint, Date, Buffer or null';
export const JSON_HINT = `wrap it with json(value) to store it as JSON (or, on postgres, an array with array(values) for a postgres array); or pass ${SCALARS}`;

/**
 * Checks and converts the parameters of one statement: as many as `expected`
 * (the SQL's placeholders; undefined when it cannot be known), each of a kind
 * the database stores unchanged. Returns `parameters` itself when nothing
 * changes.
 * @throws InvalidParameterError naming the first bad position (1-based).
 */
export function bindAll(
  parameters: readonly unknown[],
  sql: string | undefined,
  expected: number | undefined,
  bind: BindOne,
): unknown[] {
  if (expected !== undefined && parameters.length !== expected) throw countError(parameters.length, expected, sql);
  let out: unknown[] | undefined;
  for (let i = 0; i < parameters.length; i++) {
    const given = parameters[i];
    const value = given instanceof Withheld ? given.value : given;
    const kind = kindOf(value);
    const bound = kind instanceof Refusal ? kind : bind(value, kind);
    if (bound instanceof Refusal) throw new InvalidParameterError(i + 1, bound.reason, { sql, hint: bound.hint });
    if (bound !== given) (out ??= parameters.slice())[i] = bound;
  }
  return out ?? (parameters as unknown[]);
}

function countError(given: number, expected: number, sql: string | undefined): InvalidParameterError {
  const counts = `the SQL has ${expected} placeholder(s) but ${given} value(s) were given`;
  return given < expected
    ? new InvalidParameterError(given + 1, `is missing (${counts})`, {
        sql,
        hint: 'pass one value per placeholder (null for SQL NULL)',
      })
    : new InvalidParameterError(expected + 1, `has no placeholder (${counts})`, {
        sql,
        hint: 'pass one value per placeholder, or add the placeholder to the SQL',
      });
}

/** The kind of an acceptable value, or why it is refused on every database. */
export function kindOf(value: unknown): ParameterKind | Refusal {
  switch (typeof value) {
    case 'undefined':
      return 'null';
    case 'string':
      return LONE_SURROGATE.test(value)
        ? new Refusal(
            'is text with a lone surrogate (not valid Unicode), which the driver would replace with U+FFFD',
            'pass well-formed text (see String.prototype.toWellFormed), or the bytes as a Buffer',
          )
        : 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'bigint':
      return value >= MIN_INT64 && value <= MAX_INT64
        ? 'bigint'
        : new Refusal(
            'is a BigInt outside the signed 64-bit range, which no bigint column can hold',
            'pass it as a string into a decimal (numeric) or text column',
          );
    case 'function':
      return new Refusal('is a function, which the driver would bind as text or NULL', `call it, or pass ${SCALARS}`);
    case 'symbol':
      return new Refusal('is a Symbol, which the driver would bind as text or NULL', `pass ${SCALARS}`);
    default:
      return value === null ? 'null' : objectKind(value as object);
  }
}

function objectKind(value: object): ParameterKind | Refusal {
  if (value instanceof JsonParameter) return 'json';
  if (value instanceof ArrayParameter) return 'array';
  if (isDate(value)) {
    return Number.isNaN(value.getTime())
      ? new Refusal('is an invalid Date', 'pass a valid Date, or null for SQL NULL')
      : 'date';
  }
  if (Buffer.isBuffer(value) || tag(value) === 'Uint8Array') return 'bytes';
  const what = describe(value);
  if (ArrayBuffer.isView(value) || tag(value) === 'ArrayBuffer') {
    return new Refusal(
      `is ${what}, which the driver would not store as the values it holds`,
      'pass the bytes as a Buffer (Buffer.from(x.buffer, x.byteOffset, x.byteLength)), or json(Array.from(x))',
    );
  }
  return new Refusal(`is ${what}, which the driver would store as text of its own making`, JSON_HINT);
}

/** For messages: which kind of object it is. */
function describe(value: object): string {
  if (Array.isArray(value)) return 'an array';
  const name = tag(value);
  if (name === 'Map' || name === 'Set') return `a ${name}`;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || Object.getPrototypeOf(proto) === null) return 'a plain object';
  const ctor = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof ctor === 'string' && ctor !== '' ? `an instance of ${ctor}` : 'an object';
}

function tag(value: object): string {
  return Object.prototype.toString.call(value).slice(8, -1);
}

/** A Date from any realm (a Date made in a vm context, as in Jest, fails instanceof). */
export function isDate(value: unknown): value is Date {
  return Object.prototype.toString.call(value) === '[object Date]';
}

/**
 * A per-SQL memo for placeholder counts: the same statements run again and
 * again, and scanning one costs more than looking it up. Bounded: cleared
 * when full, so that generated SQL cannot grow it without end.
 */
export function memoCount(count: (sql: string) => number, size = 1000): (sql: string) => number {
  const known = new Map<string, number>();
  return (sql) => {
    let n = known.get(sql);
    if (n === undefined) {
      if (known.size >= size) known.clear();
      known.set(sql, (n = count(sql)));
    }
    return n;
  };
}

/**
 * The elements of an array() parameter, each bound by `bind` as a parameter
 * would be (nested arrays for more dimensions), or the Refusal of the first
 * bad one, naming where it is.
 */
export function bindElements(values: readonly unknown[], bind: BindOne, at = ''): unknown[] | Refusal {
  const out: unknown[] = [];
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    const where = `${at}[${i}]`;
    if (Array.isArray(value)) {
      const inner = bindElements(value, bind, where);
      if (inner instanceof Refusal) return inner;
      out.push(inner);
      continue;
    }
    const kind = kindOf(value);
    const bound =
      kind === 'json' || kind === 'array' ? refusedElement() : kind instanceof Refusal ? kind : bind(value, kind);
    if (bound instanceof Refusal) return new Refusal(`has an element at ${where} that ${bound.reason}`, bound.hint);
    out.push(bound);
  }
  return out;
}

function refusedElement(): Refusal {
  return new Refusal('is json() or array() (elements must be scalars)', 'nest plain arrays for more dimensions');
}
