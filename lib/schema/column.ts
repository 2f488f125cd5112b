/** Column types that mean the same on every dialect (see each dialect's type map). */
export const PORTABLE_TYPES = [
  'integer',
  'smallint',
  'bigint',
  'float',
  'decimal',
  'string',
  'text',
  'boolean',
  'datetime',
  'date',
  'blob',
  'json',
] as const;

/** A column type `table()` accepts, the same on every dialect (see {@link PORTABLE_TYPES}). */
export type PortableType = (typeof PORTABLE_TYPES)[number];

/**
 * One column of a table made with `broker.table()`. Every field is checked
 * (see column-check.ts); a field not listed here is refused, never ignored.
 */
export interface ColumnSpec {
  /** The column's name: letters, digits and underscores, not an SQL keyword. */
  readonly name: string;
  /** Its portable type, mapped to each dialect's own. */
  readonly type: PortableType;
  /** Maximum length of a `string` column, 1 to 10,485,760 (default 255). */
  readonly length?: number;
  /** Digits of a `decimal` column, 1 to 1000 (default 18). */
  readonly precision?: number;
  /** Digits after the point of a `decimal` column, 0 to the precision (default 6, or the precision if smaller). */
  readonly scale?: number;
  /** Part of the primary key (never nullable). */
  readonly primary?: boolean;
  /** An auto-incrementing integer primary key. */
  readonly generated?: boolean;
  /** Defaults to true, except for primary keys. */
  readonly nullable?: boolean;
}

/** A dialect's concrete type for a portable one. */
export interface ConcreteType {
  readonly type: string;
  readonly length?: string;
  readonly precision?: number;
  readonly scale?: number;
}
