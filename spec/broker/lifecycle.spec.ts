import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, BrokerClosedError, DatabaseError } from '../../lib';
import { latch } from '../support/brokers';
import { allTargets, ph, uniqueName } from '../support/targets';

class RecordingBroker extends AccessBroker {
  readonly events: string[] = [];
  readonly table_ = uniqueName('life');

  protected override async startup(): Promise<void> {
    this.events.push('startup');
    await this.table(this.table_, [{ name: 'n', type: 'integer' }]);
    // Work submitted from startup() is part of start-up: it must not wait for it.
    const rows = await lastValueFrom(this.query<{ one: number }>('SELECT 1 AS one'));
    this.events.push(`startup query ${rows[0]!.one}`);
  }

  protected override async first(tx: EntityManager): Promise<void> {
    this.events.push('first');
    await tx.query(`INSERT INTO ${this.table_} (n) VALUES (${ph(this.dialect, 1)})`, [0]);
  }

  readonly record = this.transaction(async (tx, label: string) => {
    this.events.push(label);
    return (await tx.query(`SELECT count(*) AS c FROM ${this.table_}`))[0].c;
  });

  async drop(): Promise<void> {
    await lastValueFrom(this.query(`DROP TABLE ${this.table_}`));
  }
}

describe.each(allTargets)('broker start-up [$name]', (t) => {
  it('runs startup() and first() before any transaction; work submitted earlier waits and succeeds', async () => {
    const b = new RecordingBroker(t.target());
    expect(b.running).toBe(false);
    const early = lastValueFrom(b.record('early'));
    await expect(early).resolves.toEqual(expect.anything());
    expect(b.events).toEqual(['startup', 'startup query 1', 'first', 'early']);
    expect(b.running).toBe(true);
    await b.drop();
    await b.shutdown();
    expect(b.running).toBe(false);
  });

  it('completes 26 concurrent transactions submitted before the broker runs', async () => {
    const b = new RecordingBroker(t.target());
    const labels = 'abcdefghijklmnopqrstuvwxyz'.split('');
    const results = await Promise.all(labels.map((l) => lastValueFrom(b.record(l))));
    expect(results).toHaveLength(26);
    expect(b.events.slice(3).sort()).toEqual(labels);
    await b.drop();
    await b.shutdown();
  });

  it('fails waiting work with the start-up error when startup() throws', async () => {
    class Broken extends AccessBroker {
      protected override startup(): Promise<void> {
        return Promise.reject(new Error('startup broke'));
      }
    }
    const b = new Broken(t.target());
    await expect(lastValueFrom(b.query('SELECT 1'))).rejects.toThrow('startup broke');
    await expect(b.waitUntilRunning()).rejects.toThrow('startup broke');
    await b.shutdown();
  });
});

describe.each(allTargets)('sharing and shutdown [$name]', (t) => {
  const orders = [
    [0, 1, 2],
    [2, 1, 0],
    [1, 2, 0],
  ];
  it.each(orders)(
    'shares one DataSource among three brokers and closes it once, shut down in order %j',
    async (...order) => {
      const target = t.target();
      const brokers = [new AccessBroker(target), new AccessBroker(target), new AccessBroker(target)];
      await Promise.all(brokers.map((b) => b.waitUntilRunning()));
      const ds = brokers[0]!.dataSource;
      expect(brokers[1]!.dataSource).toBe(ds);
      expect(brokers[2]!.dataSource).toBe(ds);
      const destroy = jest.spyOn(ds, 'destroy');
      for (const [i, index] of order.entries()) {
        await brokers[index]!.shutdown();
        expect(ds.isInitialized).toBe(i < 2);
        // The others keep serving until they shut down themselves.
        for (const other of order.slice(i + 1)) {
          await expect(lastValueFrom(brokers[other]!.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
        }
      }
      expect(destroy).toHaveBeenCalledTimes(1);
    },
  );

  it('accepts shutdown() ten times in a row and fails later work at once with BrokerClosedError', async () => {
    const b = new AccessBroker(t.target());
    await b.waitUntilRunning();
    const first = b.shutdown();
    for (let i = 0; i < 9; i++) expect(b.shutdown()).toBe(first);
    await first;
    for (let i = 0; i < 10; i++) await b.shutdown();
    let error: unknown;
    const work = jest.fn();
    b.transact(work).subscribe({ error: (e: unknown) => (error = e) });
    // "At once": the error arrives during subscribe, before any await.
    expect(error).toBeInstanceOf(BrokerClosedError);
    expect((error as Error).message).toMatch(/shut down/);
    expect(work).not.toHaveBeenCalled();
    await expect(lastValueFrom(b.query('SELECT 1'))).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(b.table('x', [{ name: 'n', type: 'integer' }])).rejects.toBeInstanceOf(BrokerClosedError);
    // Its connections are gone: stats say so rather than throw.
    expect(b.connectionStats()).toMatchObject({ open: 0, idle: 0, waiting: 0 });
  });

  it('waits for queued and running work before closing, losing none', async () => {
    const b = new AccessBroker(t.target());
    await b.waitUntilRunning();
    const gate = latch();
    const results = [lastValueFrom(b.transact(async () => (await gate.promise, 'slow')))];
    for (let i = 0; i < 10; i++) results.push(lastValueFrom(b.transact(async () => `queued ${i}`, { niceness: 20 })));
    const closed = b.shutdown();
    let closedYet = false;
    void closed.then(() => (closedYet = true));
    await new Promise((r) => setImmediate(r));
    expect(closedYet).toBe(false);
    gate.resolve();
    await closed;
    await expect(Promise.all(results)).resolves.toEqual([
      'slow',
      ...Array.from({ length: 10 }, (_, i) => `queued ${i}`),
    ]);
  });
});

describe.each(allTargets)('shutdown meets start-up and other brokers [$name]', (t) => {
  it('finishes start-up and work submitted earlier when shutdown() comes right after construction', async () => {
    const b = new RecordingBroker(t.target());
    const early = lastValueFrom(b.record('early'));
    const closed = b.shutdown();
    await expect(b.waitUntilRunning()).resolves.toBeUndefined();
    await expect(early).resolves.toEqual(expect.anything());
    await closed;
    expect(b.events).toEqual(['startup', 'startup query 1', 'first', 'early']);
    const cleaner = new AccessBroker(t.target());
    await lastValueFrom(cleaner.query(`DROP TABLE IF EXISTS ${b.table_}`));
    await cleaner.shutdown();
  });

  it('shuts one broker down while another sharing its queue is still busy', async () => {
    const target = t.target();
    const idle = new AccessBroker(target);
    const busy = new AccessBroker(target);
    await Promise.all([idle.waitUntilRunning(), busy.waitUntilRunning()]);
    const gate = latch();
    const running = latch();
    const busyWork = lastValueFrom(busy.transact(async () => (running.resolve(), gate.promise)));
    await running.promise;
    // The idle broker has nothing of its own to wait for.
    await idle.shutdown();
    gate.resolve();
    await busyWork;
    await busy.shutdown();
  });
});

describe('targets given to the broker', () => {
  it.each(['mysql://root@localhost/db', 'postgres://', 'sqlite://host/x.db', 'nonsense'])(
    'rejects %s with a DatabaseError naming the accepted forms',
    (target) => {
      expect(() => new AccessBroker(target)).toThrow(DatabaseError);
      expect(() => new AccessBroker(target)).toThrow(/accepted forms: 'sqlite::memory:'/);
    },
  );

  it('reports an unreachable postgres as a DatabaseError on waiting work', async () => {
    const b = new AccessBroker('postgres://postgres@127.0.0.1:1/test');
    const error = await lastValueFrom(b.query('SELECT 1')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/cannot open postgres:\/\/.*127\.0\.0\.1:1.*server is running/);
    await b.shutdown();
  });

  it('uses the target given to AccessBroker.setup() when none is passed', async () => {
    AccessBroker.setup('sqlite::memory:');
    const b = new AccessBroker();
    expect(b.dialect).toBe('sqlite');
    await expect(lastValueFrom(b.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
    await b.shutdown();
  });
});
