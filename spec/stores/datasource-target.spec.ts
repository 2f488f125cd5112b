import { AccessBroker, DatabaseError, Items, PersistentArray, PersistentDict } from '../../lib';
import { appDataSource, ownMembers } from '../support/data-sources';
import { until } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

/** The error or one of its causes whose message says the DataSource was destroyed by its owner. */
function destroyedByOwner(err: unknown): DatabaseError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof DatabaseError && e.message.includes('destroyed by its owner')) return e;
  }
  return undefined;
}

describe.each(allTargets)('stores on an existing DataSource [$name]', (t) => {
  it('Items, PersistentDict and PersistentArray share it with a broker; after their shutdown the owner reads their rows and destroys it', async () => {
    const appName = uniqueName('app');
    const ds = appDataSource(t, t.dialect === 'postgres' ? ({ applicationName: appName } as never) : {});
    const group = uniqueName('g');
    const broker = new AccessBroker(ds);
    const dict = new PersistentDict<string, number>(group, ds);
    const other = new PersistentDict<string, number>(group, ds);
    const items = new Items<string, number>(group, ds);
    const grid = new PersistentArray<number>(uniqueName('a'), ds);
    await dict.set('a', 1);
    // Another store of the group on the same DataSource reads it.
    expect(await other.get('a')).toBe(1);
    await grid.set(1, 2, 3, 42);
    expect(await items.loadAll()).toEqual(new Map([['a', 1]]));
    expect(await grid.get(1, 2, 3)).toBe(42);
    // The change bus's own listening connection, on postgres (a backend ends a moment after its client hangs up).
    const listeners = async (): Promise<number> =>
      t.dialect !== 'postgres'
        ? 0
        : (
            (await ds.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [
              `${appName}:sasync-listener`,
            ])) as { n: number }[]
          )[0]!.n;
    if (t.dialect === 'postgres') await until(async () => (await listeners()) === 1, 'the stores listen');
    await Promise.all([dict.shutdown(), other.shutdown(), items.shutdown(), grid.shutdown(), broker.shutdown()]);
    expect(ds.isInitialized).toBe(true);
    expect(ownMembers(ds)).toEqual([]);
    const rows: { value: string }[] = await ds.query(
      `SELECT value FROM sasync_items WHERE group_id = ${t.dialect === 'postgres' ? '$1' : '?'}`,
      [group],
    );
    expect(rows).toHaveLength(1);
    await until(async () => (await listeners()) === 0, 'the listening connection is gone');
    await ds.query(`DELETE FROM sasync_items WHERE group_id = ${t.dialect === 'postgres' ? '$1' : '?'}`, [group]);
    await ds.destroy();
    expect(ds.isInitialized).toBe(false);
  });

  it('destroyed by its owner under a store: its writes fail saying so, and its shutdown() resolves', async () => {
    const ds = appDataSource(t);
    const dict = new PersistentDict<string, number>(uniqueName('g'), ds);
    await dict.set('a', 1);
    await ds.destroy();
    const error = await dict.set('b', 2).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(destroyedByOwner(error)).toBeInstanceOf(DatabaseError);
    await dict.shutdown().catch(() => undefined);
    expect(ownMembers(ds)).toEqual([]);
    // What the store wrote before is there for the owner, whose DataSource opens again (in memory it is gone).
    await ds.initialize();
    const again = new PersistentDict<string, number>(dict.group, ds);
    expect(await again.get('a', undefined)).toBe(t.name === 'sqlite-memory' ? undefined : 1);
    await again.clear();
    await again.shutdown();
    await ds.destroy();
  });
});
