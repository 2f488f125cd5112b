import { InvalidIdentifierError, InvalidSpecError } from '../errors';
import { PORTABLE_TYPES, type ColumnSpec, type PortableType } from './column';
import { checkIdentifier } from './identifiers';
import { describe, plainCopy } from './spec-values';

/** Postgres allows at most this many columns in a table (sqlite 2000). */
export const MAX_COLUMNS = 1600;

/** The longest `varchar(n)` postgres accepts; sqlite gets the same limit, so a spec means the same on both. */
export const MAX_LENGTH = 10_485_760;

/**
 * The most digits a postgres `numeric` declares. Scale must be from 0 to the
 * precision: postgres 15 also takes a negative scale or one above the
 * precision, but older servers and sqlite's reading of `decimal(p, s)` do
 * not, so a spec stays portable.
 */
export const MAX_PRECISION = 1000;

/** A `decimal` column's precision and scale when the spec leaves them out. */
export const DEFAULT_PRECISION = 18;
export const DEFAULT_SCALE = 6;

const TYPES = new Set<string>(PORTABLE_TYPES);

const FLAGS = ['primary', 'generated', 'nullable'] as const;

/** Every field a column spec may have; anything else is refused, never ignored. */
const FIELDS = new Set(['name', 'type', 'length', 'precision', 'scale', ...FLAGS]);

/** Why fields users may expect are not there. */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  default:
    'is not supported by table() (a default would be spliced into the DDL): write the value in your inserts instead',
  unique: "is not a column field: declare a unique index in table()'s options, { unique: { name: ['column'] } }",
};

/**
 * Checks column `index` of a table spec and returns a frozen copy of it (read
 * once: the copy is what was checked and what the DDL is made from).
 * @throws InvalidIdentifierError for a bad name or type.
 * @throws InvalidSpecError for any other field that is unknown, of the wrong
 *   type, or out of range.
 */
export function checkColumn(table: string, index: number, spec: unknown): ColumnSpec {
  const column = plainCopy(table, undefined, `columns[${index}]`, spec);
  const name = checkIdentifier('column', column.name);
  const fail = (field: string, reason: string) => new InvalidSpecError(table, name, field, reason);
  for (const field of Object.keys(column)) {
    // An optional field spread in as undefined is as good as absent.
    if (!FIELDS.has(field) && column[field] !== undefined) {
      throw fail(field, UNSUPPORTED[field] ?? `is not a column field: use only ${[...FIELDS].join(', ')}`);
    }
  }
  const type = column.type;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw new InvalidIdentifierError(
      'type',
      typeof type === 'string' ? type : String(describe(type)),
      `column ${name}: use one of ${PORTABLE_TYPES.join(', ')}`,
    );
  }
  for (const flag of FLAGS) {
    if (column[flag] !== undefined && typeof column[flag] !== 'boolean') {
      throw fail(flag, `must be true or false, not ${describe(column[flag])}`);
    }
  }
  const only = (field: string, types: readonly PortableType[]) => {
    if (column[field] !== undefined && !types.includes(type as PortableType)) {
      throw fail(field, `applies only to ${types.join(' and ')} columns, not ${type}`);
    }
  };
  only('length', ['string']);
  only('precision', ['decimal']);
  only('scale', ['decimal']);
  integerIn(column.length, 1, MAX_LENGTH, (r) => fail('length', r), 'characters');
  integerIn(column.precision, 1, MAX_PRECISION, (r) => fail('precision', r), 'digits in all');
  const precision = (column.precision as number | undefined) ?? DEFAULT_PRECISION;
  integerIn(column.scale, 0, precision, (r) => fail('scale', r), 'digits after the point, at most the precision');
  if (column.generated && !(column.primary && (type === 'integer' || type === 'bigint'))) {
    throw new InvalidIdentifierError('column', name, 'only an integer primary key can be generated');
  }
  if (column.primary && column.nullable) throw fail('nullable', 'cannot be true for a primary key column');
  return Object.freeze(column) as unknown as ColumnSpec;
}

/** Undefined passes; anything but an integer from `min` to `max` is refused with `fail`. */
function integerIn(
  value: unknown,
  min: number,
  max: number,
  fail: (reason: string) => InvalidSpecError,
  meaning: string,
): void {
  if (value === undefined) return;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return;
  throw fail(`must be an integer from ${min} to ${max} (${meaning}), not ${describe(value)}`);
}
