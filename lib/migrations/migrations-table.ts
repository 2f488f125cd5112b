import { Table, type DataSource, type QueryRunner } from 'typeorm';
import type { MigrationEntry } from './migration-list';

/**
 * The table that records which migrations ran: TypeORM's own (the
 * DataSource's `migrationsTableName`, default `migrations`), with its
 * columns and types, so that `typeorm migration:show` and `migration:revert`
 * keep working on a database sasync migrated, and the other way round.
 */
export function migrationsTableName(dataSource: DataSource): string {
  return dataSource.options.migrationsTableName ?? 'migrations';
}

/** Creates the migrations table as TypeORM would, if the catalog does not show it. */
export async function ensureMigrationsTable(runner: QueryRunner, name: string): Promise<void> {
  if (await runner.hasTable(name)) return;
  const { driver } = runner.connection;
  const type = (t: keyof typeof driver.mappedDataTypes) =>
    driver.normalizeType({ type: driver.mappedDataTypes[t] as string });
  await runner.createTable(
    new Table({
      name,
      columns: [
        {
          name: 'id',
          type: type('migrationId'),
          isGenerated: true,
          generationStrategy: 'increment',
          isPrimary: true,
          isNullable: false,
        },
        { name: 'timestamp', type: type('migrationTimestamp'), isPrimary: false, isNullable: false },
        { name: 'name', type: type('migrationName'), isNullable: false },
      ],
    }),
  );
}

/** Names of the migrations the table records as run. */
export async function executedNames(runner: QueryRunner, table: string): Promise<Set<string>> {
  const escape = (n: string) => runner.connection.driver.escape(n);
  const rows: { name: string }[] = await runner.query(`SELECT ${escape('name')} FROM ${escape(table)}`);
  return new Set(rows.map((r) => r.name));
}

/**
 * The INSERT that records a migration as run, with its values written out
 * (a number, and a name with its quotes doubled): the same statement runs
 * here and goes into a `--sql` script, where there are no parameters.
 */
export function recordSql(dataSource: DataSource, table: string, entry: MigrationEntry): string {
  const escape = (n: string) => dataSource.driver.escape(n);
  const name = `'${entry.name.replaceAll("'", "''")}'`;
  return (
    `INSERT INTO ${escape(table)} (${escape('timestamp')}, ${escape('name')}) ` +
    `VALUES (${String(entry.timestamp)}, ${name})`
  );
}
