import type { ColumnSpec, ConcreteType, PortableType } from '../schema/column';

/** A dialect's concrete type for a column: its type name, with length or precision where they apply. */
export function concreteType(types: Record<PortableType, string>, column: ColumnSpec): ConcreteType {
  const type = types[column.type];
  if (column.type === 'string') return { type, length: String(column.length ?? 255) };
  if (column.type === 'decimal') return { type, precision: column.precision ?? 18, scale: column.scale ?? 6 };
  return { type };
}

/**
 * `insert into "table" ("a", "b") values (…) [returning "key"]` for names
 * already validated; `placeholder(i)` writes the dialect's i-th (1-based)
 * placeholder. Lower case on purpose: TypeORM's sqlite runner runs statements
 * starting "INSERT " with run(), which drops RETURNING rows.
 */
export function insertSql(
  table: string,
  names: readonly string[],
  placeholder: (i: number) => string,
  key: string | undefined,
): string {
  return (
    `insert into "${table}" (${names.map((n) => `"${n}"`).join(', ')}) ` +
    `values (${names.map((_, i) => placeholder(i + 1)).join(', ')})${key ? ` returning "${key}"` : ''}`
  );
}
