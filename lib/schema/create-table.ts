import { Table, TableColumn, TableIndex, type QueryRunner, type TableColumnOptions } from 'typeorm';
import { SchemaDriftError } from '../errors';
import type { ColumnSpec } from './column';
import { withScale } from './column-defaults';
import { tableDifferences } from './drift';
import type { SchemaIntrospector } from './introspector';
import type { TableInfo } from './table-spec';

/**
 * Creates the table and each of its indexes that the catalog does not show
 * yet (checking first, never creating and catching the failure), inside the
 * caller's transaction. A table already there is compared with its spec
 * first (see tableDifferences): a column missing, or of another type or
 * nullability, or an index on other columns, fails with SchemaDriftError
 * and changes nothing, unless the only differences are missing columns and
 * `evolve` is set: then they are added. Missing indexes are added either
 * way, as table() always did. Nothing is ever dropped or changed.
 */
export async function ensureTable(
  runner: QueryRunner,
  schema: SchemaIntrospector,
  info: TableInfo,
  evolve = false,
): Promise<void> {
  // Compared with this spec once per process and DataSource: after that, only whether it is still there
  // (TypeORM's getTable() is a dozen catalog queries on postgres; stores call table() for every dict).
  const fingerprint = JSON.stringify([info.columns, info.indexes]);
  const known = verifiedTables.get(runner.connection)?.get(info.name) === fingerprint;
  if (!(known && (await runner.hasTable(info.name)))) await createOrCompare(runner, schema, info, evolve);
  let byTable = verifiedTables.get(runner.connection);
  if (!byTable) verifiedTables.set(runner.connection, (byTable = new Map()));
  byTable.set(info.name, fingerprint);
  const present = new Set(await schema.indexNames(runner, info.name));
  for (const index of Object.values(info.indexes)) {
    if (present.has(index.dbName)) continue;
    await runner.createIndex(
      info.name,
      new TableIndex({ name: index.dbName, columnNames: [...index.columns], isUnique: index.unique }),
    );
  }
}

/** Creates the table, or compares the table there with its spec (see ensureTable). */
async function createOrCompare(runner: QueryRunner, schema: SchemaIntrospector, info: TableInfo, evolve: boolean) {
  const existing = await runner.getTable(info.name);
  if (!existing) {
    await runner.createTable(
      new Table({ name: info.name, columns: info.columns.map((c) => columnOptions(schema, c)) }),
      false,
      false,
      false,
    );
  } else {
    const differences = tableDifferences(runner, schema, info, existing);
    const missing = (name: string) => info.columns.find((c) => c.name === name)!;
    const blocking = differences.filter(
      (d) => d.kind !== 'missingIndex' && !(evolve && d.kind === 'missingColumn' && !missing(d.name).primary),
    );
    if (blocking.length > 0) throw new SchemaDriftError(info.name, differences, evolve);
    for (const d of differences) {
      if (d.kind === 'missingColumn') {
        await runner.addColumn(info.name, new TableColumn(columnOptions(schema, missing(d.name))));
      }
    }
  }
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
