#!/usr/bin/env node
/**
 * `sasync migrate [--sql] --data-source <module>`: runs the pending
 * migrations of the DataSource that the module exports (its default export,
 * or its one exported DataSource, as the TypeORM CLI's `-d` takes), or with
 * `--sql` prints the SQL they would run, changing nothing (see
 * migrationScript()). The module is loaded from the working directory: a
 * `.ts` one needs a loader (`node --import tsx`).
 */
import path from 'node:path';
import type { DataSource } from 'typeorm';
// Before the broker: a TypeORM outside the peer range is refused, naming it.
import '../dialect/typeorm/typeorm-version';
import { AccessBroker } from '../broker/access-broker';
import { migrationScript } from './script';

const USAGE = 'usage: sasync migrate [--sql] --data-source <module exporting a TypeORM DataSource>';

interface Command {
  readonly sql: boolean;
  readonly module: string;
}

/** The command line, or a message saying what is wrong with it. */
export function parseArgs(args: readonly string[]): Command | string {
  const [command, ...rest] = args;
  if (command !== 'migrate') return `unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`;
  let sql = false;
  let module: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--sql') sql = true;
    else if (arg === '--data-source' || arg === '-d') module = rest[++i];
    else if (arg.startsWith('--data-source=')) module = arg.slice('--data-source='.length);
    else return `unknown option ${JSON.stringify(arg)}\n${USAGE}`;
  }
  return module ? { sql, module } : `--data-source is missing\n${USAGE}`;
}

function isDataSource(value: unknown): value is DataSource {
  // By shape, not instanceof: the module may load its own copy of TypeORM.
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as DataSource).initialize === 'function' &&
    typeof (value as DataSource).options === 'object'
  );
}

async function loadDataSource(module: string): Promise<DataSource> {
  const exports = (await import(path.resolve(module))) as Record<string, unknown>;
  const candidates = [exports.default, ...Object.values(exports)].filter(isDataSource);
  const found = [...new Set(candidates)];
  if (found.length !== 1) {
    throw new Error(
      `${module} exports ${found.length === 0 ? 'no' : found.length} TypeORM DataSource${found.length > 1 ? 's' : ''}: ` +
        'export exactly one (or make it the default export)',
    );
  }
  return found[0]!;
}

async function main(args: readonly string[]): Promise<number> {
  const command = parseArgs(args);
  if (typeof command === 'string') {
    process.stderr.write(`${command}\n`);
    return 2;
  }
  const dataSource = await loadDataSource(command.module);
  if (command.sql) {
    process.stdout.write(await migrationScript(dataSource));
    return 0;
  }
  const broker = new AccessBroker(dataSource);
  try {
    const ran = await broker.migrate();
    process.stdout.write(ran.length ? `ran ${ran.join(', ')}\n` : 'no pending migrations\n');
  } finally {
    await broker.shutdown();
    if (dataSource.isInitialized) await dataSource.destroy();
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`sasync: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
