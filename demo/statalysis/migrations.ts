import { TableColumn, type DataSourceOptions, type MigrationInterface, type QueryRunner } from 'typeorm';
import { resolveTarget } from '../../lib';

/**
 * statalysis 2 records when each file's import started (`files.started`). A
 * new database gets the column from table() in startup(), like every other;
 * a database made by statalysis 1 gets it from this migration, which runs
 * first (`{ migrate: true }`), so that table() then finds the table as its
 * spec says rather than failing with SchemaDriftError.
 */
export class AddFileStarted1764400000000 implements MigrationInterface {
  readonly name = 'AddFileStarted1764400000000';

  async up(runner: QueryRunner): Promise<void> {
    const files = await runner.getTable('files');
    if (!files || files.findColumnByName('started')) return;
    // The types table() gives a `datetime` column on each database.
    const type = runner.connection.options.type === 'postgres' ? 'timestamptz' : 'datetime';
    await runner.addColumn('files', new TableColumn({ name: 'started', type, isNullable: true }));
  }

  async down(runner: QueryRunner): Promise<void> {
    await runner.dropColumn('files', 'started');
  }
}

/** statalysis's migrations, oldest first. */
export const MIGRATIONS = [AddFileStarted1764400000000];

/** A target's DataSourceOptions with statalysis's migrations, for a broker made with `{ migrate: true }`. */
export function migratingTarget(target: string): DataSourceOptions {
  return { ...resolveTarget(target).options, migrations: MIGRATIONS } as DataSourceOptions;
}
