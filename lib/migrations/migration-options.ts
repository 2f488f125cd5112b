import type { DataSourceOptions } from 'typeorm';
import { MigrationError } from '../errors';

/**
 * Refuses `migrationsRun: true` on a DataSource sasync will initialize:
 * TypeORM would run the migrations inside initialize(), all in one
 * transaction and under no lock (two processes starting at once could both
 * run them), before sasync can do it its way. An app's DataSource already
 * initialized has run them already: it is accepted as it is.
 * @throws MigrationError saying to use the broker's `{ migrate: true }` instead.
 */
export function refuseMigrationsRun(options: DataSourceOptions, initialized: boolean): void {
  if (initialized || !options.migrationsRun) return;
  throw new MigrationError(
    'the DataSource sets migrationsRun: true, which makes TypeORM run the migrations inside initialize(), in one ' +
      'transaction and under no lock. Remove it, and pass { migrate: true } to the broker instead: sasync then runs ' +
      'them at start-up, each in its own transaction, under the DDL lock',
  );
}

/**
 * Refuses migration options that `migrate()` would otherwise ignore:
 * `migrationsTransactionMode` other than `'each'` (sasync always runs each
 * migration in its own transaction, so that one failing leaves the ones
 * before it done and the schema as it was; unset, TypeORM's default is
 * `'all'`, sasync's is `'each'`), and `migrationsSchema`, which TypeORM 0.3
 * does not have (its migrations table is in the DataSource's `schema`, and
 * so is sasync's).
 * @throws MigrationError naming the option and what to do instead.
 */
export function checkMigrationOptions(options: DataSourceOptions): void {
  const mode = options.migrationsTransactionMode;
  if (mode !== undefined && mode !== 'each') {
    throw new MigrationError(
      `the DataSource sets migrationsTransactionMode: ${JSON.stringify(mode)}, but migrate() runs each migration in ` +
        "a transaction of its own (so that a failure leaves the schema as it was): set it to 'each' or remove it, or " +
        `run the migrations with typeorm migration:run${mode === 'all' ? ' --transaction all' : ''}`,
    );
  }
  if ('migrationsSchema' in options && (options as { migrationsSchema?: unknown }).migrationsSchema !== undefined) {
    throw new MigrationError(
      'the DataSource sets migrationsSchema, which TypeORM 0.3 does not have: its migrations table is in the ' +
        "DataSource's schema (the schema option, else the connection's current schema), and migrate() keeps it " +
        'there too. Remove it; set migrationsTableName to rename the table',
    );
  }
}
