import { DataSource, type DataSourceOptions } from 'typeorm';
import { DatabaseError } from '../errors';
import { NEEDED_BY, notInstalled, type Drivers } from './load-driver';

/*
 * Apart from load-driver.ts on purpose: this is what the public types reach
 * (dialect/index.ts), and its declaration names no driver package, so an app
 * without @types/pg or sqlite3 type-checks with skipLibCheck off.
 */

/**
 * A new DataSource; TypeORM's report of a driver package it could not load
 * (it loads one itself when the options give none) becomes the same
 * DatabaseError `loadDriver` raises.
 */
export function newDataSource(options: DataSourceOptions): DataSource {
  try {
    return new DataSource(options);
  } catch (err) {
    throw missingDriverError(err);
  }
}

/** TypeORM's report of a missing driver package as `loadDriver`'s DatabaseError; any other error as it is. */
function missingDriverError(err: unknown): unknown {
  // By name, not instanceof: TypeORMError names every error after its class.
  if (!(err instanceof Error) || err.name !== 'DriverPackageNotInstalledError') return err;
  // TypeORM's message names the command: 'Please run "npm install pg".' (0.3.31),
  // 'Try to install it: npm install pg --save' (0.3.12). Not followed by a name
  // character, so that pg is not found in pg-cursor.
  const name = (Object.keys(NEEDED_BY) as (keyof Drivers)[]).find((n) =>
    new RegExp(`npm install ${n}(?![\\w-])`).test(err.message),
  );
  return name ? notInstalled(name, err) : new DatabaseError(err.message, { cause: err });
}
