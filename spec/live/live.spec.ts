import { lastValueFrom } from 'rxjs';
import pg from 'pg';
import sqlite3 from 'sqlite3';
import { AccessBroker, LiveQueryError } from '../../lib';
import { within } from '../support/streams';
import { allTargets, fileAndPg, PG_URL, ph, uniqueName, type TestTarget } from '../support/targets';
import { watcherStats } from '../../lib/live/table-changes';
import { liveRuns, probe } from './support/probe';

interface Row {
  id: number;
  name: string;
}

/** Two tables joined (items and their owners), made fresh for one test. */
async function tables(b: AccessBroker) {
  const items = uniqueName('live_items');
  const owners = uniqueName('live_owners');
  await b.table(owners, [
    { name: 'id', type: 'integer', primary: true },
    { name: 'name', type: 'string', length: 40 },
  ]);
  await b.table(items, [
    { name: 'id', type: 'integer', primary: true },
    { name: 'name', type: 'string', length: 40 },
    { name: 'owner', type: 'integer', nullable: true },
  ]);
  const p = (n: number) => ph(b.dialect, n);
  const insert = (id: number, name: string, owner: number | null = null) =>
    b.query(`INSERT INTO ${items} (id, name, owner) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [id, name, owner]);
  return { items, owners, p, insert };
}

/** A write from outside sasync: a plain pg client, or a raw node-sqlite3 connection on the file. */
async function outsideWrite(b: AccessBroker, sql: string): Promise<void> {
  if (b.dialect === 'postgres') {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
    return;
  }
  const file = b.dataSource.options.database as string;
  const db = new sqlite3.Database(file);
  db.configure('busyTimeout', 5000);
  try {
    await new Promise<void>((resolve, reject) => db.run(sql, (e) => (e ? reject(e) : resolve())));
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

describe.each(allTargets)('broker.live() [$name]', (t: TestTarget) => {
  let b: AccessBroker;
  beforeEach(() => {
    b = new AccessBroker(t.target());
  });
  afterEach(async () => {
    await b.shutdown();
  });

  it('emits the first result, then the new rows and a keyed diff after each commit that changes them', async () => {
    const { items, insert } = await tables(b);
    await insert(1, 'one');
    const live = probe(b.live<Row>(`SELECT id, name FROM ${items} ORDER BY id`, [], { key: 'id' }));
    const first = await live.next('the first result');
    expect(first.rows).toEqual([{ id: 1, name: 'one' }]);
    expect(first.diff).toEqual({ added: [{ id: 1, name: 'one' }], removed: [], changed: [] });

    let next = live.next('the insert');
    await insert(2, 'two');
    expect((await next).diff).toEqual({ added: [{ id: 2, name: 'two' }], removed: [], changed: [] });

    next = live.next('the update and delete');
    await b.transact(async (tx) => {
      await tx.query(`UPDATE ${items} SET name = 'ONE' WHERE id = 1`);
      await tx.query(`DELETE FROM ${items} WHERE id = 2`);
    });
    const changed = await next;
    expect(changed.rows).toEqual([{ id: 1, name: 'ONE' }]);
    expect(changed.diff).toEqual({
      added: [],
      removed: [{ id: 2, name: 'two' }],
      changed: [{ before: { id: 1, name: 'one' }, after: { id: 1, name: 'ONE' } }],
    });
    live.subscription.unsubscribe();
  });

  it('does not emit for a write that leaves the result as it was (another row, the same value)', async () => {
    const { items, insert, p } = await tables(b);
    await insert(1, 'one');
    const runs = liveRuns(b);
    const live = probe(b.live<Row>(`SELECT id, name FROM ${items} WHERE id < 100 ORDER BY id`, [], { key: 'id' }));
    await live.next('the first result');
    const before = runs.count;
    await insert(500, 'outside the WHERE');
    await b.query(`UPDATE ${items} SET name = ${p(1)} WHERE id = 1`, ['one']);
    // Both writes touched the table: the query ran again (at least once), and emitted nothing.
    const next = live.next('the real change');
    await insert(2, 'two');
    expect((await next).diff.added).toEqual([{ id: 2, name: 'two' }]);
    expect(runs.count).toBeGreaterThan(before);
    expect(live.results).toHaveLength(2);
    runs.stop();
    live.subscription.unsubscribe();
  });

  it('re-runs for a change in a joined table and in a subquery', async () => {
    const { items, owners, insert, p } = await tables(b);
    await b.query(`INSERT INTO ${owners} (id, name) VALUES (1, 'ann')`);
    await insert(1, 'one', 1);
    const live = probe(
      b.live<{ id: number; owner: string }>(
        `SELECT i.id, o.name AS owner FROM ${items} i JOIN ${owners} o ON o.id = i.owner ORDER BY i.id`,
        [],
        { key: 'id' },
      ),
    );
    expect((await live.next('the first result')).rows).toEqual([{ id: 1, owner: 'ann' }]);
    const next = live.next('the owner renamed');
    await b.query(`UPDATE ${owners} SET name = ${p(1)} WHERE id = 1`, ['bea']);
    expect((await next).rows).toEqual([{ id: 1, owner: 'bea' }]);

    const sub = probe(
      b.live<{ n: number }>(
        `SELECT count(*) AS n FROM ${owners} WHERE id IN (SELECT owner FROM ${items} WHERE name = ${p(1)})`,
        ['two'],
      ),
    );
    await sub.next('the first count');
    const counted = sub.next('the count after an item named two');
    await insert(2, 'two', 1);
    expect(Number((await counted).rows[0]!.n)).toBe(1);
    live.subscription.unsubscribe();
    sub.subscription.unsubscribe();
  });

  it('does not emit for a rolled-back write', async () => {
    const { items, owners, insert } = await tables(b);
    await insert(1, 'one');
    const live = probe(
      b.live<Row>(`SELECT i.id, i.name FROM ${items} i LEFT JOIN ${owners} o ON o.id = i.owner ORDER BY i.id`),
    );
    await live.next('the first result');
    await expect(
      lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(`INSERT INTO ${items} (id, name) VALUES (9, 'rolled back')`);
          throw new Error('roll it back');
        }),
      ),
    ).rejects.toThrow('roll it back');
    const next = live.next('the committed insert');
    await insert(2, 'two');
    expect((await next).rows).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ]);
    expect(live.results.flatMap((r) => r.rows).some((r) => r.id === 9)).toBe(false);
    live.subscription.unsubscribe();
  });

  it('turns a burst of 1,000 commits into a handful of re-runs, and ends on the last result', async () => {
    const { items, p } = await tables(b);
    const runs = liveRuns(b);
    const live = probe(b.live<{ n: number }>(`SELECT count(*) AS n FROM ${items}`));
    await live.next('the first count');
    const before = runs.count;
    const last = live.next('the count of 1,000', (r) => Number(r.rows[0]!.n) === 1000);
    await Promise.all(
      Array.from({ length: 1000 }, (_, i) => b.query(`INSERT INTO ${items} (id, name) VALUES (${p(1)}, 'x')`, [i])),
    );
    await last;
    const reRuns = runs.count - before;
    // One re-run per 30 ms window at most, however many commits land in it.
    expect(reRuns).toBeGreaterThan(0);
    expect(reRuns).toBeLessThan(100);
    console.log(`[${t.name}] 1,000 commits: ${reRuns} re-runs, ${live.results.length - 1} emissions`);
    runs.stop();
    live.subscription.unsubscribe();
  });

  it("queues its re-runs at its niceness: an urgent live query's refresh overtakes queued niceness-10 bulk work", async () => {
    const { items, p } = await tables(b);
    const live = probe(b.live<{ n: number }>(`SELECT count(*) AS n FROM ${items}`, [], { niceness: -10, throttle: 0 }));
    await live.next('the first count');
    const order: string[] = [];
    const sub = b.events$.subscribe((e) => {
      if (e.type === 'started') order.push(e.method);
    });
    // A bulk import: 200 transactions queued at once at niceness 10.
    const bulk = Array.from({ length: 200 }, (_, i) =>
      lastValueFrom(
        b.transact((tx) => tx.query(`INSERT INTO ${items} (id, name) VALUES (${p(1)}, 'bulk')`, [i]), {
          niceness: 10,
          name: 'bulk',
        }),
      ),
    );
    await live.next('a count during the import', (r) => Number(r.rows[0]!.n) > 0);
    await Promise.all(bulk);
    sub.unsubscribe();
    const firstLive = order.indexOf('live');
    // Every bulk transaction was queued before the refresh was: in FIFO order it would have
    // started after all 200. It started while some were still queued: it overtook them.
    expect(firstLive).toBeGreaterThanOrEqual(0);
    expect(order.slice(firstLive).filter((m) => m === 'bulk').length).toBeGreaterThan(0);
    expect(order.filter((m) => m === 'bulk')).toHaveLength(200);
    live.subscription.unsubscribe();
  });

  it('completes on unsubscribe, on its signal, and at shutdown; nothing is left busy', async () => {
    const { items, insert } = await tables(b);
    const controller = new AbortController();
    const bySignal = probe(b.live<Row>(`SELECT id, name FROM ${items}`, [], { signal: controller.signal }));
    const atShutdown = probe(b.live<Row>(`SELECT id, name FROM ${items}`));
    await Promise.all([bySignal.next('first (signal)'), atShutdown.next('first (shutdown)')]);
    controller.abort();
    await within(bySignal.done, 'the aborted live query completes');
    await insert(1, 'one');
    await atShutdown.next('the insert');
    await within(b.shutdown(), 'shutdown with a live query open');
    await within(atShutdown.done, 'the live query completes at shutdown');
    const aborted = new AbortController();
    aborted.abort();
    const never = probe(b.live(`SELECT id FROM ${items}`, [], { signal: aborted.signal }));
    await within(never.done, 'an already-aborted live query completes');
    expect(never.results).toEqual([]);
  });

  it('releases its share of the capture on unsubscribe: the last one leaves nothing listening or polling', async () => {
    const { items, insert } = await tables(b);
    const one = probe(b.live<Row>(`SELECT id, name FROM ${items}`));
    const two = probe(b.live<Row>(`SELECT count(*) AS n FROM ${items}`));
    await Promise.all([one.next('first (one)'), two.next('first (two)')]);
    expect(await watcherStats(b)).toMatchObject({ shares: 2, tables: 1, active: true });
    one.subscription.unsubscribe();
    expect(await watcherStats(b)).toMatchObject({ shares: 1, active: true });
    const next = two.next('the insert, heard by the one left');
    await insert(1, 'one');
    await next;
    two.subscription.unsubscribe();
    expect(await watcherStats(b)).toMatchObject({ shares: 0, tables: 0, active: false });
    const runs = liveRuns(b);
    await insert(2, 'two');
    await b.drain();
    expect(runs.count).toBe(0);
    runs.stop();
  });

  it('subscribed inside a transaction, runs on its own: not part of it, and alive after it ends', async () => {
    const { items, insert } = await tables(b);
    let live!: ReturnType<typeof probe<Row>>;
    await b.transact(async (tx) => {
      await tx.query(`INSERT INTO ${items} (id, name) VALUES (1, 'in the transaction')`);
      live = probe(b.live<Row>(`SELECT id, name FROM ${items} ORDER BY id`, [], { key: 'id' }));
    });
    // Its runs are not the transaction's (on postgres its first may even come before that COMMIT):
    // it comes to show what the transaction committed, and goes on after it.
    await live.some('the committed row', (r) => r.rows.length === 1);
    const next = live.next('a later insert');
    await insert(2, 'later');
    expect((await next).rows).toHaveLength(2);
    live.subscription.unsubscribe();
  });

  it('refuses bad input: writes, no table, a key that is not unique, bad options; nothing written, the broker goes on', async () => {
    const { items, insert } = await tables(b);
    await insert(1, 'same');
    await insert(2, 'same');
    const refused = async (sql: string) => {
      let error: unknown;
      await lastValueFrom(b.live(sql)).catch((e: unknown) => (error = e));
      return error;
    };
    expect(await refused(`INSERT INTO ${items} (id, name) VALUES (3, 'x')`)).toMatchObject({
      name: 'LiveQueryError',
      problem: 'not-a-query',
    });
    expect(await refused(`DELETE FROM ${items}`)).toBeInstanceOf(LiveQueryError);
    expect(await refused('SELECT 1 AS one')).toMatchObject({ problem: 'no-tables' });
    const [count] = await lastValueFrom(b.query<{ n: number }>(`SELECT count(*) AS n FROM ${items}`));
    expect(Number(count!.n)).toBe(2);

    let dup: unknown;
    await lastValueFrom(b.live(`SELECT id, name FROM ${items}`, [], { key: 'name' })).catch((e: unknown) => (dup = e));
    expect(dup).toMatchObject({ problem: 'duplicate-key' });
    expect((dup as Error).message).toMatch(/key "name" is not unique/);

    let missing: unknown;
    const sql = `SELECT id FROM ${items}`;
    await lastValueFrom(b.live(sql, [], { tables: ['no_such_table'] })).catch((e: unknown) => (missing = e));
    expect(missing).toMatchObject({ name: 'LiveQueryError', problem: 'unwatchable-table', sql });

    expect(() => b.live(`SELECT id FROM ${items}`, [], { throttle: -1 })).toThrow(RangeError);
    expect(() => b.live(`SELECT id FROM ${items}`, [], { throttle: 60_001 })).toThrow(RangeError);
    expect(() => b.live(`SELECT id FROM ${items}`, [], { niceness: 99 })).toThrow(RangeError);
    expect(() => b.live('   ')).toThrow(TypeError);
    expect(() => b.live(`SELECT id FROM ${items}`, 'x' as never)).toThrow(TypeError);
    expect(() => b.live(`SELECT id FROM ${items}`, [], { tables: [] })).toThrow(TypeError);
    // The broker goes on.
    expect(await lastValueFrom(b.query(`SELECT count(*) AS n FROM ${items}`))).toHaveLength(1);
  });

  it('takes `tables` for a query whose tables the plan cannot name', async () => {
    const { items, insert } = await tables(b);
    const live = probe(b.live<Row>(`SELECT id, name FROM ${items} ORDER BY id`, [], { tables: [items] }));
    await live.next('the first result');
    const next = live.next('the insert');
    await insert(1, 'one');
    expect((await next).rows).toEqual([{ id: 1, name: 'one' }]);
    live.subscription.unsubscribe();
  });

  it('reads a QueryBuilder live (its raw rows)', async () => {
    const { items, insert } = await tables(b);
    const qb = b.dataSource.createQueryBuilder().select('i.id', 'id').addSelect('i.name', 'name').from(items, 'i');
    const live = probe(b.live(qb, { key: 'id' }));
    await live.next('the first result');
    const next = live.next('the insert');
    await insert(1, 'one');
    expect((await next).rows.map((r) => Number(r.id))).toEqual([1]);
    live.subscription.unsubscribe();
  });
});

describe.each(fileAndPg)('broker.live() and writes outside sasync [$name]', (t: TestTarget) => {
  it('re-runs after a write by another program (a plain pg client, a raw sqlite3 connection)', async () => {
    const b = new AccessBroker(t.target());
    try {
      const { items } = await tables(b);
      const live = probe(b.live<Row>(`SELECT id, name FROM ${items} ORDER BY id`, [], { key: 'id' }));
      await live.next('the first result');
      const next = live.next('the outside insert');
      await outsideWrite(b, `INSERT INTO ${items} (id, name) VALUES (7, 'outside')`);
      expect((await next).rows).toEqual([{ id: 7, name: 'outside' }]);
      live.subscription.unsubscribe();
    } finally {
      await b.shutdown();
    }
  });
});
