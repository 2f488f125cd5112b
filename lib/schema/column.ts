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

export type PortableType = (typeof PORTABLE_TYPES)[number];

/** One column of a table made with `broker.table()`. */
export interface ColumnSpec {
  readonly name: string;
  readonly type: PortableType;
  /** Maximum length of a `string` column (default 255). */
  readonly length?: number;
  /** Digits of a `decimal` column (default 18) and how many follow the point (default 6). */
  readonly precision?: number;
  readonly scale?: number;
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
