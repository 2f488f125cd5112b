import type { QueryRunner, Table, TableColumn } from 'typeorm';
import type { TableDifference } from '../errors';
import type { ConcreteType } from './column';
import type { SchemaIntrospector } from './introspector';
import type { TableInfo } from './table-spec';
import { withScale } from './column-defaults';

/**
 * How the table `existing` (as the catalog shows it) differs from its spec:
 * each spec column missing, or of another type (length, precision and scale
 * included) or nullability, and each spec index missing or on other columns
 * or uniqueness. What the table has beyond its spec (more columns, more
 * indexes) is no difference: table() never removes anything. Types compare
 * as TypeORM names them for the driver (`varchar` is postgres'
 * `character varying`), so a table an older sasync made from the same spec
 * has none. An index's columns compare as a set: TypeORM reads postgres'
 * index columns in table order, not index order.
 */
export function tableDifferences(
  runner: QueryRunner,
  schema: SchemaIntrospector,
  info: TableInfo,
  existing: Table,
): TableDifference[] {
  const differences: TableDifference[] = [];
  const normal = (type: string) => runner.connection.driver.normalizeType({ type }).toLowerCase();
  for (const column of info.columns) {
    const found = existing.columns.find((c) => c.name.toLowerCase() === column.name.toLowerCase());
    const expected = schema.columnType(withScale(column));
    const nullable = column.nullable ?? !column.primary;
    if (!found) {
      differences.push({ kind: 'missingColumn', name: column.name, expected: typeText(expected), actual: 'missing' });
      continue;
    }
    const actual: ConcreteType = {
      type: found.type,
      ...(found.length ? { length: found.length } : {}),
      ...(found.precision != null ? { precision: found.precision } : {}),
      ...(found.scale != null ? { scale: found.scale } : {}),
    };
    if (!sameType(expected, found, normal)) {
      differences.push({
        kind: 'columnType',
        name: column.name,
        expected: typeText(expected),
        actual: typeText(actual),
      });
    }
    // A primary key column is NOT NULL whatever the catalog's flag says (sqlite reports its INTEGER PRIMARY KEY either way).
    if (!column.primary && found.isNullable !== nullable) {
      differences.push({
        kind: 'columnNullable',
        name: column.name,
        expected: nullable ? 'nullable' : 'not null',
        actual: found.isNullable ? 'nullable' : 'not null',
      });
    }
  }
  for (const index of Object.values(info.indexes)) {
    const found = existing.indices.find((i) => i.name === index.dbName);
    const expected = `${index.unique ? 'unique ' : ''}(${index.columns.join(', ')})`;
    if (!found) {
      differences.push({ kind: 'missingIndex', name: index.dbName, expected, actual: 'missing' });
    } else if (
      Boolean(found.isUnique) !== index.unique ||
      [...found.columnNames].sort().join() !== [...index.columns].sort().join()
    ) {
      const actual = `${found.isUnique ? 'unique ' : ''}(${found.columnNames.join(', ')})`;
      differences.push({ kind: 'indexColumns', name: index.dbName, expected, actual });
    }
  }
  return differences;
}

function sameType(expected: ConcreteType, found: TableColumn, normal: (type: string) => string): boolean {
  if (normal(expected.type) !== normal(found.type)) return false;
  if (expected.length !== undefined && String(found.length) !== expected.length) return false;
  if (expected.precision !== undefined && found.precision !== expected.precision) return false;
  return expected.scale === undefined || found.scale === expected.scale;
}

function typeText(t: ConcreteType): string {
  if (t.length) return `${t.type}(${t.length})`;
  if (t.precision !== undefined) return `${t.type}(${t.precision}, ${t.scale ?? 0})`;
  return t.type;
}
