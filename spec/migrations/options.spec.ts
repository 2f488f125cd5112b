import { DataSource, type DataSourceOptions } from 'typeorm';
import { AccessBroker, MigrationError, migrationScript } from '../../lib';
import { allTargets, uniqueName } from '../support/targets';
import { migratingOptions, migrationClass } from './fixtures';

async function failure(p: PromiseLike<unknown>): Promise<unknown> {
  return Promise.resolve(p).then(
    () => undefined,
    (e: unknown) => e,
  );
}

/** One migration that makes `<p>_made`. */
const making = (p: string) => [
  migrationClass('MakeTable1700000000001', (r) => r.query(`CREATE TABLE ${p}_made (id integer)`)),
];

/** Whether `<p>_made` exists, asked through a broker of its own on the same database. */
async function made(options: DataSourceOptions, p: string): Promise<boolean> {
  const plain = { ...options, migrations: [], migrationsRun: false, migrationsTransactionMode: undefined };
  const b = new AccessBroker(plain as DataSourceOptions);
  try {
    return (await b.query(`SELECT 1 FROM ${p}_made`).then(
      () => true,
      () => false,
    )) as boolean;
  } finally {
    await b.query(`DROP TABLE IF EXISTS ${p}_made`);
    await b.query(`DROP TABLE IF EXISTS ${p}_migrations`);
    await b.shutdown();
  }
}

// sqlite in memory is a database per DataSource: what one made, another cannot see.
describe.each(allTargets.filter((t) => t.name !== 'sqlite-memory'))("TypeORM's migration options [$name]", (t) => {
  it.each(['all', 'none'] as const)(
    'migrate() refuses migrationsTransactionMode %s before running any; each is accepted',
    async (mode) => {
      const p = uniqueName('mo');
      const options = { ...migratingOptions(t, p, making(p)), migrationsTransactionMode: mode } as DataSourceOptions;
      const b = new AccessBroker(options);
      const error = await failure(b.migrate());
      expect(error).toBeInstanceOf(MigrationError);
      expect((error as Error).message).toMatch(
        new RegExp(`migrationsTransactionMode: "${mode}", but migrate\\(\\) runs each migration in a transaction`),
      );
      await b.shutdown();
      expect(await made(options, p)).toBe(false);

      const each = new AccessBroker({ ...options, migrationsTransactionMode: 'each' } as DataSourceOptions);
      expect(await each.migrate()).toEqual(['MakeTable1700000000001']);
      await each.shutdown();
      expect(await made(options, p)).toBe(true);
    },
  );

  it('migrate() refuses migrationsSchema, which TypeORM 0.3 does not have, before running any', async () => {
    const p = uniqueName('mo');
    const options = {
      ...migratingOptions(t, p, making(p)),
      migrationsSchema: 'elsewhere',
    } as unknown as DataSourceOptions;
    const b = new AccessBroker(options);
    await expect(b.migrate()).rejects.toThrow(/sets migrationsSchema, which TypeORM 0.3 does not have/);
    await b.shutdown();
    expect(await made(options, p)).toBe(false);
  });

  it('refuses migrationsRun on a DataSource sasync initializes (TypeORM would run them unlocked), running none', async () => {
    const p = uniqueName('mo');
    const options = { ...migratingOptions(t, p, making(p)), migrationsRun: true } as DataSourceOptions;
    expect(() => new AccessBroker(options)).toThrow(MigrationError);
    expect(() => new AccessBroker(options)).toThrow(/pass \{ migrate: true \} to the broker instead/);
    // Nor may the --sql script initialize it: TypeORM would run them for real.
    const ds = new DataSource(options);
    await expect(migrationScript(ds)).rejects.toThrow(MigrationError);
    expect(ds.isInitialized).toBe(false);
    expect(await made(options, p)).toBe(false);
  });

  it("accepts an app's DataSource that has run its migrations itself (migrationsRun, initialized)", async () => {
    const p = uniqueName('mo');
    const options = { ...migratingOptions(t, p, making(p)), migrationsRun: true } as DataSourceOptions;
    const ds = new DataSource(options);
    await ds.initialize();
    const b = new AccessBroker(ds);
    try {
      expect(await b.migrate()).toEqual([]);
    } finally {
      await b.shutdown();
      await ds.destroy();
    }
    expect(await made(options, p)).toBe(true);
  });
});
