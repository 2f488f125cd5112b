import { lastValueFrom } from 'rxjs';
import { AccessBroker, BrokerClosedError, Items, PersistentArray, PersistentDict } from '../../lib';
import { ARRAY_TABLE } from '../../lib/stores/tables';
import { storedCount } from '../support/stores';
import { namedTarget, sqliteConnections, until } from '../support/streams';
import { allTargets, fileAndPg, uniqueName } from '../support/targets';

describe.each(allTargets)('await using a store [$name]', (t) => {
  let target: string;
  /** Plain SQL on the same database; also keeps a memory database alive after the stores are gone. */
  let sql: AccessBroker;

  beforeEach(() => {
    target = t.target();
    sql = new AccessBroker(target);
  });
  afterEach(() => sql.shutdown());

  it('a PersistentDict: writes not awaited in the block are durable at its end; then it is closed', async () => {
    const group = uniqueName('g');
    let dict: PersistentDict<string, number>;
    let completed = false;
    {
      await using d = new PersistentDict<string, number>(group, target);
      dict = d;
      d.changes$.subscribe({ complete: () => (completed = true) });
      void d.set('a', 1);
      void d.set('b', 2);
    }
    expect(completed).toBe(true);
    expect(await storedCount(sql, group)).toBe(2);
    {
      await using again = new PersistentDict<string, number>(group, target);
      expect(await again.loadAll()).toEqual(
        new Map([
          ['a', 1],
          ['b', 2],
        ]),
      );
    }
    await expect(dict.get('a')).rejects.toBeInstanceOf(BrokerClosedError);
    expect(() => dict.view).toThrow(BrokerClosedError);
  });

  it('a PersistentArray: writes not awaited in the block are durable at its end; then it is closed', async () => {
    const group = uniqueName('g');
    let grid: PersistentArray<number>;
    {
      await using g = new PersistentArray<number>(group, target);
      grid = g;
      void g.set(0, 0, null, 1);
      void g.set(0, 1, null, 2);
    }
    expect(await storedCount(sql, group, ARRAY_TABLE)).toBe(2);
    await expect(grid.get(0, 0, null)).rejects.toBeInstanceOf(BrokerClosedError);
  });

  it('Items: a write not awaited in the block is durable at its end; then calls fail with BrokerClosedError', async () => {
    const group = uniqueName('g');
    let items: Items<string, number>;
    let inserted: Promise<void>;
    {
      await using i = new Items<string, number>(group, target);
      items = i;
      // Not awaited: shutting down waits for it (it waits for the change bus before its transaction).
      inserted = i.insert('a', 1);
    }
    await inserted;
    await expect(items.load('a')).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(items.insert('b', 2)).rejects.toBeInstanceOf(BrokerClosedError);
    {
      await using again = new Items<string, number>(group, target);
      expect(await again.loadAll()).toEqual(new Map([['a', 1]]));
    }
  });

  it('is shutdown() itself: disposing after shutdown() (or twice) is harmless', async () => {
    const dict = new PersistentDict(uniqueName('g'), target);
    const items = new Items(uniqueName('g'), target);
    const grid = new PersistentArray(uniqueName('g'), target);
    for (const store of [dict, items, grid]) {
      await store.shutdown();
      await expect(store[Symbol.asyncDispose]()).resolves.toBeUndefined();
      await expect(store[Symbol.asyncDispose]()).resolves.toBeUndefined();
    }
  });
});

describe.each(fileAndPg)('a store alone, held with await using [$name]', (t) => {
  it('releases its connections, the listening one included, when the block is left', async () => {
    const appName = uniqueName('dispose');
    const target = namedTarget(t, appName);
    // Seen from outside: file descriptors on the sqlite file, sessions named appName on postgres.
    await using sql = new AccessBroker(t.target());
    const connections = async (): Promise<number> => {
      if (typeof target === 'string') return sqliteConnections(target.replace(/^sqlite:/, ''));
      const rows = await lastValueFrom(
        sql.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
          appName,
        ]),
      );
      return rows[0]!.n;
    };
    {
      await using d = new PersistentDict<string, number>(uniqueName('g'), target);
      await d.set('a', 1);
      expect(await connections()).toBeGreaterThan(0);
    }
    // A postgres backend ends a moment after its client hangs up.
    await until(async () => (await connections()) === 0, `no connection of the dict is left`);
  });
});
