import type { DataSource, QueryRunner } from 'typeorm';
import { checkMigrationSources, listMigrations, type MigrationEntry } from './migration-list';
import { withLiterals } from './literal-sql';
import { checkMigrationOptions, refuseMigrationsRun } from './migration-options';
import { ensureMigrationsTable, executedNames, migrationsTableName, recordSql } from './migrations-table';

/**
 * Statements that only read, which a script leaves out: the catalog queries
 * TypeORM's schema methods make (`SELECT … FROM information_schema`,
 * `PRAGMA table_info(…)`), and a migration's own SELECTs.
 */
const READ_ONLY = /^\s*(SELECT|SHOW|PRAGMA\s+[\w.]+\s*(\(|;|$))/i;

/**
 * The SQL the DataSource's pending migrations would run, as a script for
 * `psql` or the `sqlite3` shell (`sasync migrate --sql`), for systems where
 * only an administrator changes the schema. Nothing is changed: the
 * migrations run in one transaction whose every statement is recorded,
 * which is then rolled back (DDL is transactional on postgres and sqlite).
 * The script creates the migrations table if it is missing and records each
 * migration in it, as `migrate()` would, all between BEGIN and COMMIT.
 *
 * What it cannot show: SQL that a migration builds from data it reads (the
 * script has the statements as they came out for this database now, and
 * leaves the reads out), and values it binds that are not strings, numbers,
 * booleans or null (MigrationError). Give it a DataSource no broker is using
 * (it takes a connection of its own and holds a transaction open while it
 * runs); one not initialized is initialized and destroyed again.
 * @throws MigrationError for the same bad input as `migrate()`.
 */
export async function migrationScript(dataSource: DataSource): Promise<string> {
  checkMigrationSources(dataSource.options);
  checkMigrationOptions(dataSource.options);
  // Before initialize(): with migrationsRun, TypeORM's initialize() would run them for real.
  refuseMigrationsRun(dataSource.options, dataSource.isInitialized);
  const own = !dataSource.isInitialized;
  if (own) await dataSource.initialize();
  try {
    const list = listMigrations(dataSource);
    const runner = dataSource.createQueryRunner();
    try {
      await runner.startTransaction();
      try {
        return await record(dataSource, runner, list);
      } finally {
        await runner.rollbackTransaction();
      }
    } finally {
      await runner.release();
    }
  } finally {
    if (own) await dataSource.destroy();
  }
}

async function record(dataSource: DataSource, runner: QueryRunner, list: readonly MigrationEntry[]): Promise<string> {
  const table = migrationsTableName(dataSource);
  const lines: string[] = [];
  let current = 'the migrations table';
  const hadOwn = Object.hasOwn(runner, 'query');
  const previous = runner.query;
  const query = previous.bind(runner) as (
    sql: string,
    parameters?: unknown[],
    structured?: boolean,
  ) => Promise<unknown>;
  let recording = true;
  // Every statement goes to the database as usual (later migrations see what earlier ones did); writes are also kept.
  runner.query = ((sql: string, parameters?: unknown[], structured?: boolean) => {
    if (recording && !READ_ONLY.test(sql)) lines.push(`${withLiterals(sql.trim(), parameters ?? [], current)};`);
    return query(sql, parameters, structured);
  }) as QueryRunner['query'];
  try {
    await ensureMigrationsTable(runner, table);
    recording = false;
    const done = await executedNames(runner, table);
    const pending = list.filter((e) => !done.has(e.name));
    for (const entry of pending) {
      current = entry.name;
      lines.push('', `-- ${entry.name}`);
      recording = true;
      await entry.migration.up(runner);
      await runner.query(recordSql(dataSource, table, entry));
      recording = false;
    }
    const header = [
      `-- ${pending.length} pending migration(s) on ${dataSource.options.type}, from sasync migrate --sql.`,
      '-- Statements a migration built from data it read are as they came out for this database when the script was made.',
    ];
    return [...header, 'BEGIN;', ...lines, '', 'COMMIT;', ''].join('\n');
  } finally {
    // The runner is released next (sqlite's is shared by the DataSource): no trace of the recording stays on it.
    if (hadOwn) runner.query = previous;
    else delete (runner as { query?: unknown }).query;
  }
}
