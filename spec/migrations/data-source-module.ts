/**
 * A module exporting a DataSource, as `sasync migrate --data-source` takes
 * one: its options (JSON) and table prefix come from the environment
 * (SASYNC_MIGRATE_OPTIONS, SASYNC_MIGRATE_PREFIX), its migrations are the
 * note migrations of fixtures.ts.
 */
import { DataSource, type DataSourceOptions } from 'typeorm';
import { migratingOptions, noteMigrations } from './fixtures';

const options = JSON.parse(process.env.SASYNC_MIGRATE_OPTIONS!) as DataSourceOptions;
const prefix = process.env.SASYNC_MIGRATE_PREFIX!;

export const dataSource = new DataSource(migratingOptions(options, prefix, noteMigrations(prefix)));
