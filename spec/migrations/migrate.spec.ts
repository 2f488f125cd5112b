import { lastValueFrom } from 'rxjs';
import { DataSource, type EntityManager } from 'typeorm';
import { AccessBroker, MigrationError, TransactionError } from '../../lib';
import { expectPoolWhole, latch } from '../support/brokers';
import { within } from '../support/streams';
import { allTargets, uniqueName, type TestTarget } from '../support/targets';
import { migratingOptions, migrationClass, noteMigrations, schemaOf } from './fixtures';

/** A broker on `t` with `<p>_runs` made, and the note migrations (plus `extra`) on its DataSource. */
async function brokerWith(t: TestTarget, p: string, extra: ReturnType<typeof migrationClass>[] = []) {
  const b = new AccessBroker(migratingOptions(t, p, [...noteMigrations(p), ...extra]));
  await b.query(`CREATE TABLE ${p}_runs (name varchar(50))`);
  return b;
}

async function runs(b: AccessBroker, p: string): Promise<string[]> {
  return (await b.query<{ name: string }>(`SELECT name FROM ${p}_runs`)).map((r) => r.name).sort();
}

async function recorded(b: AccessBroker, p: string): Promise<string[]> {
  const rows = await b.query<{ name: string }>(`SELECT name FROM ${p}_migrations ORDER BY id`);
  return rows.map((r) => r.name);
}

async function drop(b: AccessBroker, p: string): Promise<void> {
  for (const t of ['notes', 'runs', 'migrations', 'extra']) await b.query(`DROP TABLE IF EXISTS ${p}_${t}`);
  await b.shutdown();
}

describe.each(allTargets)('migrate() [$name]', (t) => {
  it('runs the pending migrations in order, each once, and records them in TypeORM’s migrations table', async () => {
    const p = uniqueName('m');
    const b = await brokerWith(t, p);
    expect(await b.migrate()).toEqual(['CreateNotes1700000000001', 'AddBody1700000000002', 'IndexTitle1700000000003']);
    expect(await b.migrate()).toEqual([]);
    expect(await runs(b, p)).toEqual(['body', 'create', 'index']);
    expect(await recorded(b, p)).toEqual([
      'CreateNotes1700000000001',
      'AddBody1700000000002',
      'IndexTitle1700000000003',
    ]);
    const schema = (await schemaOf(b, [`${p}_notes`]))[`${p}_notes`] as { columns: string[]; indexes: string[] };
    expect(schema.columns.map((c) => c.split(':')[0])).toEqual(['id', 'title', 'body']);
    expect(schema.indexes).toContain(`ix_${p}_notes_title`);
    await drop(b, p);
  });

  it('with { migrate: true } runs them at start-up, before startup() and first()', async () => {
    const p = uniqueName('m');
    // One app DataSource for both brokers (on sqlite in memory, each made from options would have a database of its own).
    const ds = new DataSource(migratingOptions(t, p, noteMigrations(p)));
    const setup = new AccessBroker(ds);
    await setup.query(`CREATE TABLE ${p}_runs (name varchar(50))`);
    const seen: string[] = [];
    class Notes extends AccessBroker {
      protected override async startup(): Promise<void> {
        seen.push(...(await runs(this, p)));
      }
      protected override async first(tx: EntityManager): Promise<void> {
        const rows: { body: unknown }[] = await tx.query(`SELECT body FROM ${p}_notes`);
        seen.push(`${rows.length} notes`);
      }
    }
    const b = new Notes(ds, { migrate: true });
    await b.waitUntilRunning();
    expect(seen).toEqual(['body', 'create', 'index', '0 notes']);
    await b.shutdown();
    await drop(setup, p);
    await ds.destroy();
  });

  it('a migration that fails midway leaves the schema as it was, unrecorded; the ones before it stay done', async () => {
    const p = uniqueName('m');
    const failing = migrationClass('Broken1700000000004', async (r) => {
      await r.query(`CREATE TABLE ${p}_extra (id integer)`);
      await r.query(`ALTER TABLE ${p}_notes ADD COLUMN tag varchar(10)`);
      await r.query(`INSERT INTO ${p}_no_such_table VALUES (1)`);
    });
    const b = await brokerWith(t, p, [failing]);
    const before = await schemaOf(b, [`${p}_notes`, `${p}_extra`]);
    const error = await b.migrate().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).method).toBe('migrate(Broken1700000000004)');
    expect(await recorded(b, p)).toEqual([
      'CreateNotes1700000000001',
      'AddBody1700000000002',
      'IndexTitle1700000000003',
    ]);
    const after = await schemaOf(b, [`${p}_notes`, `${p}_extra`]);
    // The three before it ran; the failed one left nothing: no extra table, no tag column.
    expect(after[`${p}_extra`]).toEqual({ columns: [], indexes: [] });
    expect((after[`${p}_notes`] as { columns: string[] }).columns.map((c) => c.split(':')[0])).toEqual([
      'id',
      'title',
      'body',
    ]);
    expect(before[`${p}_notes`]).toEqual({ columns: [], indexes: [] });
    // The broker keeps serving.
    expect(await runs(b, p)).toEqual(['body', 'create', 'index']);
    await drop(b, p);
  });

  it('with { migrate: true }, a failing migration fails the start-up before startup() runs', async () => {
    const p = uniqueName('m');
    const failing = migrationClass('Broken1700000000004', async (r) => {
      await r.query(`INSERT INTO ${p}_no_such_table VALUES (1)`);
    });
    const ds = new DataSource(migratingOptions(t, p, [...noteMigrations(p), failing]));
    const setup = new AccessBroker(ds);
    await setup.query(`CREATE TABLE ${p}_runs (name varchar(50))`);
    let started = false;
    class Notes extends AccessBroker {
      protected override startup(): void {
        started = true;
      }
    }
    const b = new Notes(ds, { migrate: true });
    await expect(b.waitUntilRunning()).rejects.toMatchObject({
      name: 'TransactionError',
      method: 'migrate(Broken1700000000004)',
    });
    expect(started).toBe(false);
    // The ones before it are done and recorded; the broker still shuts down cleanly.
    expect(await runs(setup, p)).toEqual(['body', 'create', 'index']);
    await b.shutdown();
    await drop(setup, p);
    await ds.destroy();
  });

  it('unsubscribed while a migration runs: rolled back, unrecorded, the pool whole; the next migrate() runs it', async () => {
    const p = uniqueName('m');
    const reached = latch();
    const resume = latch();
    let calls = 0;
    const slow = migrationClass('Slow1700000000004', async (r) => {
      await r.query(`CREATE TABLE ${p}_extra (id integer)`);
      if (++calls === 1) {
        reached.resolve();
        await resume.promise;
      }
    });
    const b = await brokerWith(t, p, [slow]);
    const subscription = b.migrate().subscribe({ error: () => undefined });
    await within(reached.promise, 'the slow migration to start');
    subscription.unsubscribe();
    resume.resolve();
    await b.drain();
    expect(await recorded(b, p)).toEqual([
      'CreateNotes1700000000001',
      'AddBody1700000000002',
      'IndexTitle1700000000003',
    ]);
    expect((await schemaOf(b, [`${p}_extra`]))[`${p}_extra`]).toEqual({ columns: [], indexes: [] });
    expectPoolWhole(b);
    expect(await b.migrate()).toEqual(['Slow1700000000004']);
    await drop(b, p);
  });

  it('refuses two migrations of one name before running any', async () => {
    const p = uniqueName('m');
    const copy = migrationClass('AddBody1700000000002', async () => undefined);
    const b = await brokerWith(t, p, [copy]);
    const error = await b.migrate().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ name: 'MigrationError', migration: 'AddBody1700000000002' });
    expect((error as Error).message).toMatch(/two migrations are named "AddBody1700000000002".*Rename one/);
    expect(await runs(b, p)).toEqual([]);
    await drop(b, p);
  });

  it('refuses a migrations folder that does not exist before running any, and a name without a timestamp', async () => {
    const p = uniqueName('m');
    const missing = new AccessBroker(migratingOptions(t, p, ['no/such/folder/*.js']));
    const error = await missing.migrate().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MigrationError);
    expect(error).toMatchObject({ path: 'no/such/folder' });
    expect((error as Error).message).toMatch(/the migrations folder "no\/such\/folder".*does not exist/);
    await missing.shutdown();
    const b = await brokerWith(t, p, [migrationClass('NoTimestamp', async () => undefined)]);
    await expect(b.migrate()).rejects.toThrow(/migration "NoTimestamp" has no timestamp/);
    expect(await runs(b, p)).toEqual([]);
    await drop(b, p);
  });

  it('refuses to run inside a transaction', async () => {
    const p = uniqueName('m');
    const b = await brokerWith(t, p);
    await expect(b.transact(() => lastValueFrom(b.migrate()))).rejects.toThrow(/cannot run inside a transaction/);
    await drop(b, p);
  });
});
