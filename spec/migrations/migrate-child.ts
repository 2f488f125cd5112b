/**
 * A process that migrates: argv[2] is the DataSourceOptions (JSON, without
 * migrations), argv[3] the table prefix. It opens its broker, prints
 * `ready`, waits for a line on stdin (so that every process starts its
 * migrate() at the same moment), migrates, prints what it ran as JSON, and
 * shuts down.
 */
import readline from 'node:readline';
import type { DataSourceOptions } from 'typeorm';
import { AccessBroker } from '../../lib';
import { migratingOptions, noteMigrations } from './fixtures';

async function main(): Promise<void> {
  const [options, p] = [JSON.parse(process.argv[2]!) as DataSourceOptions, process.argv[3]!];
  const broker = new AccessBroker(migratingOptions(options, p, noteMigrations(p)));
  await broker.waitUntilRunning();
  const lines = readline.createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
  process.stdout.write('ready\n');
  await go;
  lines.close();
  const ran = await broker.migrate();
  process.stdout.write(`ran ${JSON.stringify(ran)}\n`);
  await broker.shutdown();
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
