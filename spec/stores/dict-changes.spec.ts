import { lastValueFrom, toArray, VirtualTimeScheduler } from 'rxjs';
import { PersistentDict, type Change } from '../../lib';
import { loggedOptions, queryLog } from '../support/brokers';
import { RawSql, recorder } from '../support/stores';
import { allTargets, uniqueName } from '../support/targets';

describe.each(allTargets)('PersistentDict change streams [$name]', (t) => {
  let target: string;
  let raw: RawSql;
  let d: PersistentDict<string, unknown>;

  beforeEach(async () => {
    target = t.target();
    raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
    d = new PersistentDict(uniqueName('g'), target);
  });
  afterEach(async () => {
    await d.shutdown();
    await raw.shutdown();
  });

  it(`changes$ emits set, delete and clear with values, previous values and origin [${t.name}]`, async () => {
    await d.set('a', 1);
    const seen: Change<string, unknown>[] = [];
    const sub = d.changes$.subscribe((c) => seen.push(c));
    await d.set('a', 2);
    await d.delete('a');
    await d.set('b', { x: 1 });
    await d.clear();
    sub.unsubscribe();
    await d.set('after', 0);
    expect(seen).toEqual([
      { type: 'set', key: 'a', value: 2, previous: 1, origin: 'local' },
      { type: 'delete', key: 'a', value: undefined, previous: 2, origin: 'local' },
      { type: 'set', key: 'b', value: { x: 1 }, previous: undefined, origin: 'local' },
      { type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'local' },
    ]);
  });

  it(`watch emits the current value, then each distinct change, and completes on shutdown [${t.name}]`, async () => {
    await d.set('k', 'first');
    const values = lastValueFrom(d.watch('k').pipe(toArray()));
    const loaded = recorder(d.watch('k'));
    const otherValues = lastValueFrom(d.watch('never-set').pipe(toArray()));
    // Subscribed together: when one has its current value, so has the other.
    expect(await loaded.first).toBe('first');
    await d.set('k', 'second');
    await d.set('k', 'second'); // the same value: not again
    await d.set('k', { deep: [1] });
    await d.set('k', { deep: [1] }); // equal, another object: not again
    await d.set('unrelated', 1);
    await d.delete('k');
    await d.set('k', 'back');
    await d.clear();
    await d.shutdown();
    expect(await values).toEqual(['first', 'second', { deep: [1] }, undefined, 'back', undefined]);
    expect(await otherValues).toEqual([undefined]);
  });

  it(`watch reads a cold key from the database once, and unsubscribing leaves nothing running [${t.name}]`, async () => {
    await raw.query('INSERT INTO sasync_items (group_id, name, value) VALUES (?, ?, ?)', [d.group, 'cold', '["v"]']);
    const watch = recorder(d.watch('cold'));
    expect(await watch.first).toBe('v');
    watch.unsubscribe();
    await d.set('cold', 'changed');
    expect(watch.seen).toEqual(['v']);
  });

  it(`snapshot$ emits the map once loaded, then once per burst on a virtual clock [${t.name}]`, async () => {
    await d.set('a', 1);
    const clock = new VirtualTimeScheduler();
    const sub = recorder(d.snapshot$({ within: 50, scheduler: clock }));
    const snapshots = sub.seen;
    expect(await sub.first).toEqual(new Map([['a', 1]]));
    for (let i = 0; i < 5; i++) void d.set('a', i + 10);
    void d.set('b', 'x');
    expect(snapshots).toHaveLength(1);
    clock.flush();
    expect(snapshots).toHaveLength(2);
    expect(snapshots[1]).toEqual(
      new Map<string, unknown>([
        ['a', 14],
        ['b', 'x'],
      ]),
    );
    void d.delete('a');
    void d.set('c', 3);
    clock.flush();
    expect(snapshots).toHaveLength(3);
    expect(snapshots[2]).toEqual(
      new Map<string, unknown>([
        ['b', 'x'],
        ['c', 3],
      ]),
    );
    clock.flush();
    expect(snapshots).toHaveLength(3);
    // A burst cut short by unsubscribing leaves no timer behind.
    void d.set('d', 4);
    expect(clock.actions.length).toBe(1);
    sub.unsubscribe();
    expect(clock.actions.length).toBe(0);
  });

  it(`subscribing to changes$ and watch on cached keys queries nothing [${t.name}]`, async () => {
    const log = queryLog();
    const options = loggedOptions(target, log);
    const logged = new PersistentDict<string, number>(uniqueName('g'), options);
    try {
      await logged.set('a', 1);
      await logged.flush();
      const before = log.queries.length;
      const subs = [logged.changes$.subscribe(), logged.watch('a').subscribe(), logged.changes$.subscribe()];
      await logged.get('a');
      subs.forEach((s) => s.unsubscribe());
      expect(log.queries.length).toBe(before);
    } finally {
      await logged.shutdown();
    }
  });
});
