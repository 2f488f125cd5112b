import {
  AsyncError,
  BrokerClosedError,
  InvalidKeyError,
  MissingKeyError,
  PersistentDict,
  SerializationError,
  devalueSerializer,
} from '../../lib';
import { remoteSettled } from '../../lib/stores/cached-store';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

describe.each(allTargets)('PersistentDict [$name]', (t) => {
  let target: string;
  let raw: RawSql;
  const open: { shutdown(): Promise<void> }[] = [];
  const dict = <K extends string | number = string, V = unknown>(id: string | number, options = {}) => {
    const d = new PersistentDict<K, V>(id, target, options);
    open.push(d);
    return d;
  };

  beforeEach(async () => {
    target = t.target();
    // Keeps a memory database alive between a store's shutdown and its reopening.
    raw = new RawSql(target);
    await raw.broker.waitUntilRunning();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.shutdown()));
    await raw.shutdown();
  });

  it(`keeps its items after shutdown and reopening under the same id [${t.name}]`, async () => {
    const id = uniqueName('g');
    const first = dict(id);
    await first.set('a', 1);
    await first.set('b', { nested: [1, 2, 3] });
    await first.shutdown();
    const again = dict(id);
    expect(await again.get('a')).toBe(1);
    expect(await again.get('b')).toEqual({ nested: [1, 2, 3] });
    expect(await again.size()).toBe(2);
  });

  it(`keeps three dicts with different ids apart [${t.name}]`, async () => {
    const ids = [uniqueName('x'), uniqueName('y'), uniqueName('z')];
    const dicts = ids.map((id) => dict(id));
    await Promise.all(dicts.map((d, i) => d.set('k', i)));
    await Promise.all(dicts.map((d, i) => d.set(`only${i}`, true)));
    const reopened = ids.map((id) => dict(id));
    for (const [i, d] of reopened.entries()) {
      expect(await d.get('k')).toBe(i);
      expect((await d.keys()).sort()).toEqual(['k', `only${i}`]);
    }
  });

  it(`setdefault returns a present value and sets an absent one [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    await d.set('here', 'old');
    expect(await d.setdefault('here', 'new')).toBe('old');
    expect(await d.setdefault('absent', 'dflt')).toBe('dflt');
    expect(await d.get('absent')).toBe('dflt');
    expect((await raw.items(d.group)).has('absent')).toBe(true);
  });

  it(`update, then clear, then loadAll is empty, in memory and in the table [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    await d.update({ a: 1, b: 2 });
    await d.update(new Map([['c', 3]]));
    await d.update([['d', 4]]);
    expect(await d.loadAll()).toEqual(
      new Map<string, number>([
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
      ]),
    );
    await d.clear();
    expect((await d.loadAll()).size).toBe(0);
    expect((await raw.items(d.group)).size).toBe(0);
    const again = dict(d.group);
    expect((await again.loadAll()).size).toBe(0);
  });

  it(`reads rows written directly with SQL: keys, values, entries, has, get with default [${t.name}]`, async () => {
    const group = uniqueName('g');
    for (const [name, value] of [
      ['p', 1],
      ['q', 'two'],
    ] as const) {
      await raw.query('INSERT INTO sasync_items (group_id, name, value) VALUES (?, ?, ?)', [
        group,
        name,
        devalueSerializer.encode(value),
      ]);
    }
    const d = dict(group);
    expect(await d.has('p')).toBe(true);
    expect(await d.has('nope')).toBe(false);
    expect(await d.get('nope', 'dflt')).toBe('dflt');
    expect(await d.get('q')).toBe('two');
    expect((await d.keys()).sort()).toEqual(['p', 'q']);
    expect((await d.values()).sort()).toEqual([1, 'two']);
    expect(new Map(await d.entries())).toEqual(
      new Map<string, unknown>([
        ['p', 1],
        ['q', 'two'],
      ]),
    );
    expect(await d.copy()).toEqual(
      new Map<string, unknown>([
        ['p', 1],
        ['q', 'two'],
      ]),
    );
  });

  it(`preload gives a synchronous view whose writes reach the table [${t.name}]`, async () => {
    const d = dict<string, number>(uniqueName('g'));
    await d.set('a', 1);
    expect(() => dict(uniqueName('other')).view).toThrow(AsyncError);
    const view = await d.preload();
    expect(d.view).toBe(view);
    expect(view.get('a')).toBe(1);
    view.set('b', 2).set('c', 3);
    expect(view.get('b')).toBe(2);
    expect(view.has('c')).toBe(true);
    expect(view.delete('a')).toBe(true);
    expect(view.delete('a')).toBe(false);
    expect(view.size).toBe(2);
    expect([...view].sort()).toEqual([
      ['b', 2],
      ['c', 3],
    ]);
    expect(() => view.set('', 1)).toThrow(InvalidKeyError);
    expect(() => view.set('f', (() => 1) as unknown as number)).toThrow(SerializationError);
    await d.flush();
    const stored = await raw.items(d.group);
    expect([...stored.keys()].sort()).toEqual(['b', 'c']);
  });

  it(`rejects a missing key with MissingKeyError naming key and group [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    const error = await d.get('ghost').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingKeyError);
    expect(error).toMatchObject({ key: 'ghost', group: d.group });
    expect((error as Error).message).toContain('get(key, default)');
  });

  it(`refuses bad keys with InvalidKeyError and writes nothing [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    await expect(d.set('', 1)).rejects.toThrow(InvalidKeyError);
    await expect(d.set('k'.repeat(256), 1)).rejects.toThrow(/at most 255/);
    await expect(d.set(5 as unknown as string, 1)).rejects.toThrow(InvalidKeyError);
    await expect(d.set({} as unknown as string, 1)).rejects.toThrow(InvalidKeyError);
    await expect(d.get('')).rejects.toThrow(InvalidKeyError);
    await expect(d.update({ good: 1, '': 2 })).rejects.toThrow(InvalidKeyError);
    await d.flush();
    expect((await raw.items(d.group)).size).toBe(0);
    expect(await d.has('good')).toBe(false);
    const numeric = dict<number>(uniqueName('n'), { nameType: 'number' });
    await numeric.set(42, 'x');
    await expect(numeric.set('42' as unknown as number, 1)).rejects.toThrow(InvalidKeyError);
    expect(await numeric.keys()).toEqual([42]);
  });

  it(`refuses unstorable values with SerializationError before anything changes [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    const seen: unknown[] = [];
    const sub = d.changes$.subscribe((c) => seen.push(c));
    await expect(d.set('f', () => 1)).rejects.toThrow(SerializationError);
    await expect(d.set('s', Symbol('x'))).rejects.toThrow(SerializationError);
    await expect(d.set('c', new (class Point {})())).rejects.toThrow(/Point/);
    sub.unsubscribe();
    expect(seen).toEqual([]);
    expect(await d.has('f')).toBe(false);
    await d.flush();
    expect((await raw.items(d.group)).size).toBe(0);
  });

  it(`throws TypeError for group ids of the wrong type [${t.name}]`, () => {
    for (const id of [{}, undefined, null, NaN, Infinity, '', 'g'.repeat(256), [1]]) {
      expect(() => new PersistentDict(id as string, target)).toThrow(TypeError);
    }
  });

  it(`names the group and key of a corrupted stored value; other keys still load [${t.name}]`, async () => {
    const group = uniqueName('g');
    await raw.query('INSERT INTO sasync_items (group_id, name, value) VALUES (?, ?, ?)', [group, 'bad', '{nope']);
    await raw.query('INSERT INTO sasync_items (group_id, name, value) VALUES (?, ?, ?)', [group, 'good', '[1]']);
    const d = dict(group);
    // Read in one batch, the bad key fails alone.
    const [bad, good] = await Promise.allSettled([d.get('bad'), d.get('good')]);
    expect(bad.status).toBe('rejected');
    expect(good).toEqual({ status: 'fulfilled', value: 1 });
    const error = await d.get('bad').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain(JSON.stringify(group));
    expect((error as Error).message).toContain('"bad"');
    expect(await d.get('good')).toBe(1);
    await expect(d.loadAll()).rejects.toThrow(/"bad"/);
    expect(await d.get('good')).toBe(1);
    // Overwriting the bad value mends it.
    await d.set('bad', 'mended');
    expect(await dict(group).get('bad')).toBe('mended');
  });

  it(`fails every method after shutdown with BrokerClosedError [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    await d.set('a', 1);
    await d.shutdown();
    expect(d.shutdown()).toBe(d.shutdown());
    const calls: (() => Promise<unknown>)[] = [
      () => d.get('a'),
      () => d.set('a', 2),
      () => d.delete('a'),
      () => d.has('a'),
      () => d.keys(),
      () => d.loadAll(),
      () => d.clear(),
      () => d.setdefault('z', 1),
      () => d.update({ b: 1 }),
    ];
    for (const call of calls) await expect(call()).rejects.toThrow(BrokerClosedError);
    await expect(d.flush()).rejects.toThrow(BrokerClosedError);
    expect(() => d.view).toThrow(BrokerClosedError);
    expect(() => d.watch('a')).toThrow(BrokerClosedError);
    expect(() => d.snapshot$()).toThrow(BrokerClosedError);
  });

  it(`closes its preloaded view on shutdown [${t.name}]`, async () => {
    const d = dict(uniqueName('g'));
    const view = await d.preload();
    view.set('a', 1);
    await d.shutdown();
    expect(() => view.get('a')).toThrow(BrokerClosedError);
    expect(() => view.size).toThrow(BrokerClosedError);
    expect(() => [...view]).toThrow(BrokerClosedError);
    expect(() => view.set('b', 2)).toThrow(BrokerClosedError);
    expect(await dict(d.group).get('a')).toBe(1);
  });

  it(`reports a value another store wrote unreadably, even on a preloaded dict [${t.name}]`, async () => {
    const group = uniqueName('g');
    const a = dict(group);
    await a.set('k', 'fine');
    const view = await a.preload();
    const other = dict(group, { serializer: { encode: (v: unknown) => `raw:${String(v)}`, decode: (x: string) => x } });
    await other.set('k', 'unreadable here');
    // `a` has read the change log up to now, and the re-read its entry started has finished.
    await within(a[remoteSettled](), 'the change log read');
    const error = await a.get('k').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain('"k"');
    expect(view.has('k')).toBe(false);
  });

  it(`stores numeric group ids stably: 7 and '7' are one group [${t.name}]`, async () => {
    const n = Math.floor(Math.random() * 1e9);
    await dict(n).set('a', 'by number');
    expect(await dict(String(n)).get('a')).toBe('by number');
    expect((await raw.items(String(n))).has('a')).toBe(true);
  });
});
