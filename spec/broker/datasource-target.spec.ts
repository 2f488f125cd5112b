import fs from 'node:fs';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import { DataSource } from 'typeorm';
import { AccessBroker, DatabaseError } from '../../lib';
import { acquireDatabase } from '../../lib/broker/registry';
import { FIRST_RETRY_DELAY } from '../../lib/broker/retrying';
import { resolveTarget } from '../../lib/target';
import { ItemsBroker, latch } from '../support/brokers';
import { appDataSource, appOptions, ownMembers, poolListeners } from '../support/data-sources';
import { allTargets, pgAvailable, ph, postgres, scratchDir, sqliteFile, uniqueName } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

/** What `promise` rejected with (it must reject). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
}

/** The error or one of its causes whose message says the DataSource was destroyed by its owner. */
function destroyedByOwner(err: unknown): DatabaseError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof DatabaseError && e.message.includes('destroyed by its owner')) return e;
  }
  return undefined;
}

describe.each(allTargets)('an existing DataSource as the target [$name]', (t) => {
  it('not initialized: sasync initializes it once for every broker on it, and uses that very object', async () => {
    const ds = appDataSource(t);
    let initializations = 0;
    const initialize = ds.initialize.bind(ds);
    ds.initialize = () => (initializations++, initialize());
    AccessBroker.setup(ds);
    const brokers = [new ItemsBroker(ds), new ItemsBroker(ds), new ItemsBroker()];
    await Promise.all(brokers.map((b) => b.waitUntilRunning()));
    expect(initializations).toBe(1);
    for (const b of brokers) expect(b.dataSource).toBe(ds);
    expect(ds.isInitialized).toBe(true);
    await lastValueFrom(brokers[0]!.query(brokers[0]!.insertSql(), ['one']));
    expect(await brokers[0]!.names()).toEqual(['one']);
    for (const b of brokers) await b.dropItems();
    await Promise.all(brokers.map((b) => b.shutdown()));
    // Initialized by sasync, and still not sasync's to destroy: the owner does.
    expect(ds.isInitialized).toBe(true);
    await ds.destroy();
  });

  it('initialized by its owner right after the broker was made: one initialize() for both, no second connection', async () => {
    const ds = appDataSource(t);
    let connects = 0;
    const connect = ds.driver.connect.bind(ds.driver);
    ds.driver.connect = () => (connects++, connect());
    const b = new AccessBroker(ds);
    // The owner's call and sasync's share one attempt: TypeORM would connect twice.
    await ds.initialize();
    await b.waitUntilRunning();
    expect(connects).toBe(1);
    expect(await lastValueFrom(b.query<{ one: number }>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
    await b.shutdown();
    expect(ownMembers(ds)).toEqual([]);
    await expect(ds.initialize()).rejects.toThrow(/already/);
    await ds.destroy();
  });

  it("initialized by its owner: used as it is, sees the owner's data, and is left open and as it was", async () => {
    const ds = appDataSource(t);
    await ds.initialize();
    const members = ownMembers(ds);
    const listeners = poolListeners(ds);
    const table = uniqueName('owner');
    await ds.query(`CREATE TABLE ${table} (n integer)`);
    await ds.query(`INSERT INTO ${table} (n) VALUES (${ph(t.dialect, 1)})`, [7]);
    const b = new AccessBroker(ds);
    const rows = await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${table}`));
    expect(rows.map((r) => Number(r.n))).toEqual([7]);
    await b.shutdown();
    expect(ds.isInitialized).toBe(true);
    expect(ownMembers(ds)).toEqual(members);
    const after = poolListeners(ds);
    expect(after.pool).toBe(listeners.pool);
    // Each client carries what pg-pool gives it, nothing of sasync's.
    for (const n of after.clients) expect(n).toBe(listeners.clients[0]);
    await expect(ds.query(`INSERT INTO ${table} (n) VALUES (${ph(t.dialect, 1)})`, [8])).resolves.toBeDefined();
    await ds.query(`DROP TABLE ${table}`);
    await ds.destroy();
    expect(ds.isInitialized).toBe(false);
  });

  it("shuts down with a row stream open and its owner's destroy() then returns", async () => {
    const ds = appDataSource(t, { poolSize: 2 } as never);
    const b = new ItemsBroker(ds);
    await b.waitUntilRunning();
    await lastValueFrom(b.query(b.insertSql(), ['a']));
    await lastValueFrom(b.query(b.insertSql(), ['b']));
    const rows = b.stream<{ name: string }>(`SELECT name FROM ${b.itemsTable} ORDER BY id`, [], { batchSize: 1 });
    const iterator = rows[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ name: 'a' });
    const closed = rejection(iterator.next().then(() => iterator.next()));
    await b.shutdown();
    await closed;
    expect(ds.isInitialized).toBe(true);
    expect(b.connectionStats()).toMatchObject({ waiting: 0, idle: b.connectionStats().open });
    await ds.query(`DROP TABLE ${b.itemsTable}`);
    await ds.destroy();
    expect(ds.isInitialized).toBe(false);
  });

  // One transaction slot on postgres too (a pool of 2: one for transactions,
  // one for streams); a sqlite file in WAL mode, so that a stream reads beside the writer.
  const busyOptions = { poolSize: 2, enableWAL: true } as never;

  it('destroyed by its owner with a row stream open: the stream fails saying so, then so do new streams', async () => {
    const ds = appDataSource(t, busyOptions);
    const b = new ItemsBroker(ds);
    await lastValueFrom(b.query(b.insertSql(), ['a']));
    await lastValueFrom(b.query(b.insertSql(), ['b']));
    const stream = b.stream<{ name: string }>(`SELECT name FROM ${b.itemsTable} ORDER BY id`, [], { batchSize: 1 });
    const iterator = stream[Symbol.asyncIterator]();
    expect((await iterator.next()).value).toEqual({ name: 'a' });
    const destroyed = ds.destroy();
    const streamError = await rejection(iterator.next().then(() => iterator.next()));
    expect(destroyedByOwner(streamError)).toBeInstanceOf(DatabaseError);
    await destroyed;
    expect(ds.isInitialized).toBe(false);
    const later = await rejection(lastValueFrom(b.stream('SELECT 1 AS one')));
    expect(destroyedByOwner(later)).toBe(later);
    await b.shutdown();
    expect(ownMembers(ds)).toEqual([]);
  });

  it('destroyed by its owner under a running and a queued transaction: the queued one and new work fail saying so, shutdown() resolves', async () => {
    const ds = appDataSource(t, busyOptions);
    const b = new ItemsBroker(ds);
    await b.waitUntilRunning();
    const holding = latch();
    const entered = latch();
    const running = lastValueFrom(
      b.transact(async (tx) => {
        await tx.query('SELECT 1');
        entered.resolve();
        await holding.promise;
      }),
      { defaultValue: undefined },
    );
    running.catch(() => undefined);
    await entered.promise;
    const queued = lastValueFrom(b.query('SELECT 1 AS one'));
    queued.catch(() => undefined);
    const destroyed = ds.destroy();
    // New work is refused at once, with the reason and what to do.
    const later = await rejection(lastValueFrom(b.query('SELECT 1 AS one')));
    expect(later).toBeInstanceOf(DatabaseError);
    expect(destroyedByOwner(later)?.message).toMatch(/Shut them down .* before destroying the DataSource/);
    holding.resolve();
    // The running one ends one way or the other (postgres' pool waits for it; sqlite closes under it).
    await running.catch(() => undefined);
    // Queued work never began: it gets the refusal itself, not a "rolled back" TransactionError around it.
    const queuedError = await rejection(queued);
    expect(queuedError).toBeInstanceOf(DatabaseError);
    expect(destroyedByOwner(queuedError)).toBe(queuedError);
    await destroyed;
    expect(ds.isInitialized).toBe(false);
    await b.shutdown();
    expect(ownMembers(ds)).toEqual([]);
  });

  it('a share taken while the last one is being given back finds it set up, and leaves it as it was', async () => {
    const ds = appDataSource(t);
    await ds.initialize();
    const members = ownMembers(ds);
    const first = acquireDatabase(resolveTarget(ds));
    await first.open();
    const setUp = ownMembers(ds);
    // The last share goes: the next one is a new SharedDatabase while the first still takes its additions back.
    const leaving = first.release();
    const second = acquireDatabase(resolveTarget(ds));
    expect(second).not.toBe(first);
    await Promise.all([leaving, second.open()]);
    expect(ownMembers(ds)).toEqual(setUp);
    await second.release();
    expect(ownMembers(ds)).toEqual(members);
    await ds.destroy();
  });

  it("a DataSource of a second copy of TypeORM (not instanceof this one's) works by its shape", async () => {
    let Other!: typeof DataSource;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a second copy of TypeORM, as an app may load
      Other = (require('typeorm') as typeof import('typeorm')).DataSource;
    });
    expect(Other).not.toBe(DataSource);
    const ds = new Other(appOptions(t));
    expect(ds).not.toBeInstanceOf(DataSource);
    const b = new AccessBroker(ds);
    const rows = await lastValueFrom(b.query<{ one: number }>('SELECT 1 AS one'));
    expect(Number(rows[0]!.one)).toBe(1);
    expect(b.dataSource).toBe(ds);
    await b.shutdown();
    await ds.destroy();
  });

  it("another broker's DataSource: the same database, queue and connections, open until the last broker on it shuts down", async () => {
    const table = uniqueName('shared');
    const first = new AccessBroker(t.target());
    await lastValueFrom(first.query(`CREATE TABLE ${table} (v integer)`));
    const second = new AccessBroker(first.dataSource);
    await second.waitUntilRunning();
    expect(second.dataSource).toBe(first.dataSource);
    // A transaction of each, the first held open while the second is submitted: each commits its row.
    const held = latch();
    const started = latch();
    const one = lastValueFrom(
      first.transact(async (tx) => {
        await tx.query(`INSERT INTO ${table} (v) VALUES (${ph(t.dialect, 1)})`, [1]);
        started.resolve();
        await held.promise;
      }),
    );
    await started.promise;
    const two = lastValueFrom(
      second.transact((tx) => tx.query(`INSERT INTO ${table} (v) VALUES (${ph(t.dialect, 1)})`, [2])),
    );
    held.resolve();
    await Promise.all([one, two]);
    expect(second.connectionStats()).toEqual(first.connectionStats());
    // The first broker shuts down: the DataSource stays open for the second, which goes on.
    await first.shutdown();
    expect(second.dataSource.isInitialized).toBe(true);
    const rows = (await lastValueFrom(second.query(`SELECT v FROM ${table} ORDER BY v`))) as { v: number }[];
    expect(rows.map((r) => Number(r.v))).toEqual([1, 2]);
    await lastValueFrom(second.query(`DROP TABLE ${table}`));
    // The last one closes it: it was sasync's own.
    const ds = second.dataSource;
    await second.shutdown();
    expect(ds.isInitialized).toBe(false);
    // Closed, it is no app's DataSource to open again: refused at once, saying what to do.
    expect(() => new AccessBroker(ds)).toThrow(DatabaseError);
    expect(() => new AccessBroker(ds)).toThrow(
      /every broker on it has shut down.*Make the broker from the same target/,
    );
    expect(ds.isInitialized).toBe(false);
  });

  it('a URL target and a DataSource on the same database are two: each its own DataSource and queue', async () => {
    const ds = appDataSource(t);
    const onDs = new AccessBroker(ds);
    const byUrl = new AccessBroker(t.name === 'postgres' ? t.target() : ds.options);
    await Promise.all([onDs.waitUntilRunning(), byUrl.waitUntilRunning()]);
    expect(onDs.dataSource).toBe(ds);
    expect(byUrl.dataSource).not.toBe(ds);
    await Promise.all([onDs.shutdown(), byUrl.shutdown()]);
    expect(ds.isInitialized).toBe(true);
    await ds.destroy();
  });
});

describe('an existing DataSource as the target: refused at once', () => {
  const shaped = (type: string) => ({
    options: { type },
    isInitialized: false,
    initialize: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
    createQueryRunner: () => undefined,
  });

  it.each(['mysql', 'better-sqlite3', 'sqljs'])('a DataSource of type %s, naming the supported types', (type) => {
    const make = () => new AccessBroker(shaped(type) as unknown as DataSource);
    expect(make).toThrow(DatabaseError);
    expect(make).toThrow(`a TypeORM DataSource of type '${type}' is not supported`);
    expect(make).toThrow("type 'sqlite' or 'postgres'");
    expect(() => AccessBroker.setup(shaped(type) as unknown as DataSource)).toThrow(DatabaseError);
  });

  it('something shaped partly like a DataSource, naming what it lacks', () => {
    const partial = { options: { type: 'sqlite' }, initialize: () => Promise.resolve() };
    expect(() => new AccessBroker(partial as unknown as DataSource)).toThrow(
      /not a TypeORM DataSource \(it has no destroy, createQueryRunner, isInitialized\)/,
    );
  });
});

describe.each(pgAvailable ? [postgres] : [])(
  'an existing postgres DataSource: options sasync cannot work with [$name]',
  (t) => {
    it('a pool of one connection is refused at once, saying what to set', () => {
      const ds = appDataSource(t, { poolSize: 1 } as never);
      expect(() => new AccessBroker(ds)).toThrow(/too small.*poolSize \/ extra\.max/);
      // Refused before sasync added anything to it.
      expect(ownMembers(ds)).toEqual([]);
    });

    it('a schema not on the search_path is refused at once; with it on the search_path, it works', async () => {
      const schema = uniqueName('s');
      expect(() => new AccessBroker(appDataSource(t, { schema } as never))).toThrow(
        new RegExp(`schema '${schema}' is not on its connections' search_path.*search_path=${schema},public`),
      );
      const setup = new AccessBroker(t.target());
      await lastValueFrom(setup.query(`CREATE SCHEMA ${schema}`));
      const ds = appDataSource(t, { schema, extra: { options: `-c search_path=${schema},public` } } as never);
      const b = new ItemsBroker(ds);
      await lastValueFrom(b.query(b.insertSql(), ['in schema']));
      const where = await lastValueFrom(
        b.query<{ s: string }>(`SELECT table_schema AS s FROM information_schema.tables WHERE table_name = $1`, [
          b.itemsTable,
        ]),
      );
      expect(where.map((r) => r.s)).toEqual([schema]);
      await b.shutdown();
      await ds.destroy();
      await lastValueFrom(setup.query(`DROP SCHEMA ${schema} CASCADE`));
      await setup.shutdown();
    });
  },
);

describe('an existing sqlite file DataSource [sqlite-file]', () => {
  const clock = useVirtualClock();

  it('whose initialize() failed is initialized again on the same object, never a copy', async () => {
    const dir = path.join(scratchDir(), uniqueName('later'));
    fs.writeFileSync(dir, 'not a directory');
    const ds = new DataSource({ type: 'sqlite', database: path.join(dir, 'db.sqlite') });
    const b = new ItemsBroker(ds);
    await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
    fs.rmSync(dir);
    const started = b.waitUntilRunning();
    await clock.current.advance(FIRST_RETRY_DELAY);
    await started;
    expect(b.dataSource).toBe(ds);
    expect(ds.isInitialized).toBe(true);
    await b.shutdown();
    await ds.destroy();
  });

  it('gets a 5 s busy timeout while sasync uses it, and its own back afterwards; its busyTimeout option is kept', async () => {
    const timeout = async (ds: DataSource) => Number((await ds.query('PRAGMA busy_timeout'))[0].timeout);
    const ds = appDataSource(sqliteFile);
    await ds.initialize();
    const before = await timeout(ds);
    const b = new AccessBroker(ds);
    await b.waitUntilRunning();
    expect(await timeout(ds)).toBe(5000);
    await b.shutdown();
    expect(await timeout(ds)).toBe(before);
    await ds.destroy();
    const own = appDataSource(sqliteFile, { busyTimeout: 300 } as never);
    const c = new AccessBroker(own);
    await c.waitUntilRunning();
    expect(await timeout(own)).toBe(300);
    await c.shutdown();
    await own.destroy();
  });

  it('without enableWAL: a stream reads on its one connection, holding the slot; with it, beside transactions', async () => {
    for (const enableWAL of [false, true]) {
      const ds = appDataSource(sqliteFile, enableWAL ? ({ enableWAL } as never) : {});
      const b = new ItemsBroker(ds);
      for (const name of ['a', 'b', 'c']) await lastValueFrom(b.query(b.insertSql(), [name]));
      const mode = await lastValueFrom(b.query<{ journal_mode: string }>('PRAGMA journal_mode'));
      expect(mode[0]!.journal_mode).toBe(enableWAL ? 'wal' : 'delete');
      const iterator = b.stream(`SELECT name FROM ${b.itemsTable}`, [], { batchSize: 1 })[Symbol.asyncIterator]();
      await iterator.next();
      const order: string[] = [];
      const tx = lastValueFrom(
        b.transact(() => void order.push('transaction')),
        { defaultValue: undefined },
      );
      // With a reader of its own, the transaction runs while the stream is open.
      if (enableWAL) await tx;
      while (!(await iterator.next()).done);
      order.push('stream ended');
      await tx;
      expect(order).toEqual(enableWAL ? ['transaction', 'stream ended'] : ['stream ended', 'transaction']);
      await b.shutdown();
      await ds.destroy();
    }
  });
});
