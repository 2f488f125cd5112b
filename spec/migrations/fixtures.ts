import { lastValueFrom } from 'rxjs';
import type { DataSourceOptions, MigrationInterface, QueryRunner } from 'typeorm';
import type { AccessBroker } from '../../lib';
import { appOptions } from '../support/data-sources';
import type { TestTarget } from '../support/targets';

type MigrationClass = new () => MigrationInterface;

/** A migration class named `name` (its instance's `name`), whose up() is `up`. */
export function migrationClass(name: string, up: (runner: QueryRunner) => Promise<unknown>): MigrationClass {
  return class {
    readonly name = name;
    up(runner: QueryRunner): Promise<unknown> {
      return up(runner);
    }
    async down(): Promise<void> {}
  };
}

/**
 * Three migrations on the tables `<p>_notes` and `<p>_runs` (the test makes
 * `<p>_runs` first): a table, a column, an index. Each also inserts its name
 * into `<p>_runs`, so a test can count how often each ran.
 */
export function noteMigrations(p: string): MigrationClass[] {
  const ran = (r: QueryRunner, n: string) => r.query(`INSERT INTO ${p}_runs (name) VALUES ('${n}')`);
  return [
    migrationClass('CreateNotes1700000000001', async (r) => {
      await r.query(`CREATE TABLE ${p}_notes (id integer PRIMARY KEY, title varchar(50) NOT NULL)`);
      await ran(r, 'create');
    }),
    migrationClass('AddBody1700000000002', async (r) => {
      await r.query(`ALTER TABLE ${p}_notes ADD COLUMN body text`);
      await ran(r, 'body');
    }),
    migrationClass('IndexTitle1700000000003', async (r) => {
      await r.query(`CREATE INDEX ix_${p}_notes_title ON ${p}_notes (title)`);
      await ran(r, 'index');
    }),
  ];
}

/** DataSourceOptions on a test target with these migrations and a migrations table of the test's own. */
export function migratingOptions(
  t: TestTarget | DataSourceOptions,
  p: string,
  migrations: DataSourceOptions['migrations'],
): DataSourceOptions {
  const base = 'type' in t ? t : appOptions(t);
  return { ...base, migrations, migrationsTableName: `${p}_migrations` } as DataSourceOptions;
}

/** Each table's columns (name: type, lowercased) and index names, read from the catalog. */
export async function schemaOf(b: AccessBroker, tables: readonly string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const table of tables) {
    if (b.dialect === 'postgres') {
      const cols = await lastValueFrom(
        b.query<{ column_name: string; data_type: string; is_nullable: string }>(
          'SELECT column_name, data_type, is_nullable FROM information_schema.columns ' +
            'WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
          [table],
        ),
      );
      const ix = await lastValueFrom(
        b.query<{ indexname: string }>(
          'SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 ORDER BY 1',
          [table],
        ),
      );
      out[table] = {
        columns: cols.map((c) => `${c.column_name}: ${c.data_type}${c.is_nullable === 'NO' ? ' not null' : ''}`),
        indexes: ix.map((i) => i.indexname),
      };
    } else {
      const cols = await lastValueFrom(
        b.query<{ name: string; type: string; notnull: number }>('SELECT * FROM pragma_table_info(?)', [table]),
      );
      const ix = await lastValueFrom(
        b.query<{ name: string }>('SELECT name FROM pragma_index_list(?) ORDER BY name', [table]),
      );
      out[table] = {
        columns: cols.map((c) => `${c.name}: ${c.type.toLowerCase()}${c.notnull ? ' not null' : ''}`),
        indexes: ix.map((i) => i.name),
      };
    }
  }
  return out;
}
