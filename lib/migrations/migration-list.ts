import fs from 'node:fs';
import path from 'node:path';
import type { DataSource, DataSourceOptions, MigrationInterface } from 'typeorm';
import { MigrationError } from '../errors';

/** One of the DataSource's migrations, named and timed as TypeORM names and orders them. */
export interface MigrationEntry {
  /** Its `name`, else its class name; ends with a 13-digit JavaScript timestamp. */
  readonly name: string;
  readonly timestamp: number;
  readonly migration: MigrationInterface;
}

const GLOB = /[*?[\]{}!]/;

/**
 * Checks that each folder or file named by the DataSource's `migrations`
 * option exists. TypeORM reads a glob that matches nothing as no migrations
 * at all, so a mistyped or unbuilt folder would otherwise be a silent
 * "nothing to do". Paths are relative to the working directory, as TypeORM
 * reads them.
 * @throws MigrationError naming the first missing folder.
 */
export function checkMigrationSources(options: DataSourceOptions): void {
  const given = options.migrations;
  const entries: unknown[] = Array.isArray(given) ? given : given ? Object.values(given) : [];
  for (const entry of entries) {
    if (typeof entry !== 'string') continue;
    const parts = entry.split(/[\\/]/);
    const fixed = parts.findIndex((p) => GLOB.test(p));
    const base = fixed === -1 ? entry : parts.slice(0, fixed).join('/') || '.';
    if (!fs.existsSync(path.resolve(base))) {
      throw new MigrationError(
        `the migrations folder ${JSON.stringify(base)} (from the DataSource's migrations option ${JSON.stringify(entry)}) ` +
          `does not exist in ${process.cwd()}: build the migrations first, or fix the path (relative to the working directory)`,
        { path: base },
      );
    }
  }
}

/**
 * The DataSource's migrations (built by its initialize()) in the order they
 * run: by the timestamp that ends each name, as TypeORM orders them.
 * @throws MigrationError for two migrations of one name, or a name without a timestamp.
 */
export function listMigrations(dataSource: DataSource): MigrationEntry[] {
  const seen = new Set<string>();
  const list = dataSource.migrations.map((migration) => {
    const name = migration.name || migration.constructor.name;
    const timestamp = Number.parseInt(name.slice(-13), 10);
    if (!/\d{13}$/.test(name) || !timestamp) {
      throw new MigrationError(
        `migration ${JSON.stringify(name)} has no timestamp at the end of its name: name it like AddEmail1700000000000 ` +
          '(typeorm migration:create does), so that migrations run in order',
        { migration: name },
      );
    }
    if (seen.has(name)) {
      throw new MigrationError(
        `two migrations are named ${JSON.stringify(name)}: the migrations table records names, so only one of them ` +
          'would ever run. Rename one (a new timestamp), or remove the copy (a folder glob matching both the .ts and .js?)',
        { migration: name },
      );
    }
    seen.add(name);
    return { name, timestamp, migration };
  });
  return list.sort((a, b) => a.timestamp - b.timestamp);
}
