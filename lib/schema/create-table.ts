import { Table, TableIndex, type QueryRunner } from 'typeorm';
import type { ColumnSpec } from './column';
import type { SchemaIntrospector } from './introspector';
import { DEFAULT_PRECISION, DEFAULT_SCALE } from './column-check';
import type { TableInfo } from './table-spec';

/**
 * Creates the table and each of its indexes that the catalog does not show
 * yet (checking first, never creating and catching the failure), inside the
 * caller's transaction.
 */
export async function ensureTable(runner: QueryRunner, schema: SchemaIntrospector, info: TableInfo): Promise<void> {
  if (!(await runner.hasTable(info.name))) await runner.createTable(toTable(schema, info), false, false, false);
  const existing = new Set(await schema.indexNames(runner, info.name));
  for (const index of Object.values(info.indexes)) {
    if (existing.has(index.dbName)) continue;
    await runner.createIndex(
      info.name,
      new TableIndex({ name: index.dbName, columnNames: [...index.columns], isUnique: index.unique }),
    );
  }
}

function toTable(schema: SchemaIntrospector, info: TableInfo): Table {
  return new Table({
    name: info.name,
    columns: info.columns.map((c) => {
      const concrete = schema.columnType(withScale(c));
      return {
        name: c.name,
        ...concrete,
        isPrimary: c.primary ?? false,
        isGenerated: c.generated ?? false,
        ...(c.generated ? { generationStrategy: 'increment' as const } : {}),
        isNullable: c.nullable ?? !c.primary,
      };
    }),
  });
}

/** A decimal's default scale never exceeds its precision (`decimal(4)` is `numeric(4, 4)`, not `(4, 6)`). */
function withScale(column: ColumnSpec): ColumnSpec {
  if (column.type !== 'decimal' || column.scale !== undefined) return column;
  return { ...column, scale: Math.min(DEFAULT_SCALE, column.precision ?? DEFAULT_PRECISION) };
}
