import { Table, TableColumn, TableIndex, type QueryRunner, type TableColumnOptions } from 'typeorm';
import { SchemaDriftError, type TableDifference } from '../errors';
import type { ColumnSpec } from './column';
import { withScale } from './column-defaults';
import { tableDifferences } from './drift';
import type { SchemaIntrospector } from './introspector';
import type { IndexInfo, TableInfo } from './table-spec';

/**
 * Creates the table and its indexes if the catalog does not show the table
 * (checking first, never creating and catching the failure), inside the
 * caller's transaction. A table already there is compared with its spec
 * first (see tableDifferences): a column or index missing, or a column of
 * another type or nullability, or an index on other columns, fails with
 * SchemaDriftError and changes nothing, unless the only differences are
 * missing columns and indexes and `evolve` is set: then they are added.
 * Nothing is ever dropped or changed.
 */
export async function ensureTable(
  runner: QueryRunner,
  schema: SchemaIntrospector,
  info: TableInfo,
  evolve = false,
): Promise<void> {
  // Compared with this spec once per process and DataSource: after that, only whether it is still there
  // with its indexes (TypeORM's getTable() is a dozen catalog queries on postgres; stores call table() for
  // every dict). One gone since is compared again in full.
  const fingerprint = JSON.stringify([info.columns, info.indexes]);
  const known = verifiedTables.get(runner.connection)?.get(info.name) === fingerprint;
  if (known && (await runner.hasTable(info.name))) {
    const present = new Set(await schema.indexNames(runner, info.name));
    if (Object.values(info.indexes).every((index) => present.has(index.dbName))) return;
  }
  await createOrCompare(runner, schema, info, evolve);
  let byTable = verifiedTables.get(runner.connection);
  if (!byTable) verifiedTables.set(runner.connection, (byTable = new Map()));
  byTable.set(info.name, fingerprint);
}

/** Creates the table with its indexes, or compares the table there with its spec (see ensureTable). */
async function createOrCompare(runner: QueryRunner, schema: SchemaIntrospector, info: TableInfo, evolve: boolean) {
  const existing = await runner.getTable(info.name);
  if (!existing) {
    await runner.createTable(
      new Table({ name: info.name, columns: info.columns.map((c) => columnOptions(schema, c)) }),
      false,
      false,
      false,
    );
    for (const index of Object.values(info.indexes)) await createIndex(runner, info.name, index);
    return;
  }
  const differences = tableDifferences(runner, schema, info, existing);
  const missing = (name: string) => info.columns.find((c) => c.name === name)!;
  const addable = (d: TableDifference) =>
    d.kind === 'missingIndex' || (d.kind === 'missingColumn' && !missing(d.name).primary);
  if (differences.some((d) => !(evolve && addable(d)))) throw new SchemaDriftError(info.name, differences, evolve);
  // Columns first: a missing index may be on a missing column.
  for (const d of differences) {
    if (d.kind === 'missingColumn') {
      await runner.addColumn(info.name, new TableColumn(columnOptions(schema, missing(d.name))));
    }
  }
  for (const d of differences) {
    if (d.kind === 'missingIndex') {
      await createIndex(
        runner,
        info.name,
        Object.values(info.indexes).find((i) => i.dbName === d.name)!,
      );
    }
  }
}

function createIndex(runner: QueryRunner, table: string, index: IndexInfo): Promise<void> {
  return runner.createIndex(
    table,
    new TableIndex({ name: index.dbName, columnNames: [...index.columns], isUnique: index.unique }),
  );
}

function columnOptions(schema: SchemaIntrospector, c: ColumnSpec): TableColumnOptions {
  const concrete = schema.columnType(withScale(c));
  return {
    name: c.name,
    ...concrete,
    isPrimary: c.primary ?? false,
    isGenerated: c.generated ?? false,
    ...(c.generated ? { generationStrategy: 'increment' as const } : {}),
    isNullable: c.nullable ?? !c.primary,
  };
}

/**
 * Table names this process found (or made) matching a spec, with that spec, by
 * DataSource. A table another process changes afterwards is seen by this
 * process's next start, not by its next table() call.
 */
const verifiedTables = new WeakMap<object, Map<string, string>>();
