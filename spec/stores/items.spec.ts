import { lastValueFrom } from 'rxjs';
import {
  AccessBroker,
  BrokerClosedError,
  InvalidKeyError,
  Items,
  Missing,
  PersistentDict,
  SerializationError,
  TransactionError,
  type ItemOptions,
} from '../../lib';
import { nextChange, storedCount, storedRows } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, ph, uniqueName } from '../support/targets';

function sorted<T extends string | number>(values: Iterable<T>): T[] {
  return [...values].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

describe.each(allTargets)('Items [$name]', (t) => {
  let target: string;
  /** Plain SQL on the same database; also keeps a memory database alive while stores come and go. */
  let sql: AccessBroker;
  const open: { shutdown(): Promise<void> }[] = [];
  const items = <K extends string | number = string, V = unknown>(id: string | number, options?: ItemOptions) => {
    const store = new Items<K, V>(id, target, options);
    open.push(store);
    return store;
  };

  beforeEach(async () => {
    target = t.target();
    sql = new AccessBroker(target);
    // The table exists from here on, for the SQL the tests run themselves.
    await items(uniqueName('boot')).waitUntilRunning();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.shutdown()));
    await sql.shutdown();
  });

  it(`inserts, loads, lists, updates and deletes items [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await store.insert('a', 1);
    await store.insert('b', { list: [1, 2], when: new Date(0) });
    await store.insert('c', 'three');
    expect(await store.load('a')).toBe(1);
    expect(await store.load('b')).toEqual({ list: [1, 2], when: new Date(0) });
    expect(sorted(await store.names())).toEqual(['a', 'b', 'c']);
    const all = await store.loadAll();
    expect(all).toBeInstanceOf(Map);
    expect(all).toEqual(
      new Map<string, unknown>([
        ['a', 1],
        ['b', { list: [1, 2], when: new Date(0) }],
        ['c', 'three'],
      ]),
    );
    await store.update('a', 'one');
    expect(await store.load('a')).toBe('one');
    await store.delete('c');
    expect(sorted(await store.names())).toEqual(['a', 'b']);
    expect(sorted((await storedRows(sql, store.group)).keys())).toEqual(['a', 'b']);
  });

  it(`loads a missing name as a Missing with its group and name [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    const missing = await store.load('nobody');
    expect(missing).toBeInstanceOf(Missing);
    expect(missing).toMatchObject({ group: store.group, name: 'nobody' });
    const numeric = items<number>(uniqueName('g'), { nameType: 'number' });
    expect(await numeric.load(42)).toEqual(new Missing(numeric.group, 42));
  });

  it(`rejects insert of an existing name with TransactionError and keeps the stored value [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await store.insert('k', 'first');
    const error = await store.insert('k', 'second').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).cause).toBeDefined();
    expect(await store.load('k')).toBe('first');
    expect(await storedCount(sql, store.group)).toBe(1);
    // The queue goes on.
    await store.insert('other', 2);
    expect(await store.load('other')).toBe(2);
  });

  it(`update of a missing name does nothing: no row is created [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await store.update('ghost', 'boo');
    expect(await store.load('ghost')).toBeInstanceOf(Missing);
    expect(await storedCount(sql, store.group)).toBe(0);
    expect(await store.names()).toEqual([]);
  });

  it(`deletes several names at once, one of them missing, and keeps the rest [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    for (const name of ['a', 'b', 'c', 'd']) await store.insert(name, name.toUpperCase());
    await store.delete('a', 'missing', 'c');
    expect(sorted(await store.names())).toEqual(['b', 'd']);
    expect(sorted((await storedRows(sql, store.group)).keys())).toEqual(['b', 'd']);
    expect(await store.load('a')).toBeInstanceOf(Missing);
    expect(await store.load('d')).toBe('D');
    await store.delete();
    expect(await storedCount(sql, store.group)).toBe(2);
  });

  it(`deletes 1,200 names in one call (more than one statement's worth) [${t.name}]`, async () => {
    const store = items<number>(uniqueName('g'), { nameType: 'number' });
    const names = Array.from({ length: 1200 }, (_, i) => i);
    await Promise.all(names.map((n) => store.insert(n, n)));
    expect(await storedCount(sql, store.group)).toBe(1200);
    await store.delete(...names.filter((n) => n !== 600));
    expect(await store.names()).toEqual([600]);
  });

  it(`with nameType 'number' gives numbers back from names() and loadAll() [${t.name}]`, async () => {
    const store = items<number>(uniqueName('g'), { nameType: 'number' });
    const keys = [1, -2.5, 0, 1e21, 0.1 + 0.2];
    for (const k of keys) await store.insert(k, `v${k}`);
    const names = await store.names();
    expect(names.every((n) => typeof n === 'number')).toBe(true);
    expect(sorted(names)).toEqual(sorted(keys));
    const all = await store.loadAll();
    expect(sorted(all.keys())).toEqual(sorted(keys));
    expect(all.get(0.1 + 0.2)).toBe(`v${0.1 + 0.2}`);
    expect(await store.load(1e21)).toBe('v1e+21');
  });

  it(`refuses a string key with nameType 'number', and a number key by default, with InvalidKeyError [${t.name}]`, async () => {
    const numeric = items<number>(uniqueName('g'), { nameType: 'number' });
    const asNumber = '1' as unknown as number;
    for (const key of [asNumber, NaN, Infinity]) {
      await expect(numeric.insert(key, 'x')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(numeric.update(key, 'x')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(numeric.load(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(numeric.delete(key)).rejects.toBeInstanceOf(InvalidKeyError);
    }
    const named = items(uniqueName('g'));
    const asString = 1 as unknown as string;
    const error = await named.insert(asString, 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidKeyError);
    expect(error).toMatchObject({ key: 1, group: named.group });
    await expect(named.load(asString)).rejects.toBeInstanceOf(InvalidKeyError);
    expect(await storedCount(sql, numeric.group)).toBe(0);
    expect(await storedCount(sql, named.group)).toBe(0);
  });

  it(`takes string and number group ids; 7 and '7' are one group [${t.name}]`, async () => {
    const n = Math.floor(Math.random() * 1e9) + 1e9;
    const byNumber = items(n);
    const byString = items(String(n));
    expect(byNumber.group).toBe(String(n));
    await byNumber.insert('k', 'from number');
    expect(await byString.load('k')).toBe('from number');
    await byString.insert('j', 'from string');
    expect(sorted(await byNumber.names())).toEqual(['j', 'k']);
    await byNumber.delete('k', 'j');
    const fractional = items(n + 0.5);
    await fractional.insert('f', 1);
    expect(await items(`${n}.5`).load('f')).toBe(1);
    await fractional.delete('f');
  });

  it(`takes a group id of 255 characters [${t.name}]`, async () => {
    const id = uniqueName('long').padEnd(255, 'x');
    const store = items(id);
    await store.insert('k', 'v');
    expect(await items(id).load('k')).toBe('v');
    expect(await storedCount(sql, id)).toBe(1);
    await store.delete('k');
  });

  it.each([
    ['an object', {}],
    ['undefined', undefined],
    ['null', null],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['an empty string', ''],
    ['a 256-character string', 'g'.repeat(256)],
    ['a 300-character string', 'g'.repeat(300)],
  ])(`throws TypeError at construction for a group id that is %s [${t.name}]`, (_what, id) => {
    // Kept for shutdown in case it is (wrongly) accepted.
    expect(() => open.push(new Items(id as string, target))).toThrow(TypeError);
  });

  it(`refuses an empty key and a 256-character key with InvalidKeyError, writing nothing [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    for (const key of ['', 'k'.repeat(256)]) {
      await expect(store.insert(key, 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.update(key, 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.load(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.delete('fine', key)).rejects.toBeInstanceOf(InvalidKeyError);
    }
    expect(await storedCount(sql, store.group)).toBe(0);
    const longest = 'k'.repeat(255);
    await store.insert(longest, 'v');
    expect(await store.load(longest)).toBe('v');
  });

  it.each([
    ['a NUL character', 'a\u0000b'],
    ['a lone surrogate', 'x\ud800y'],
  ])(`keeps a key with %s exactly, or refuses it with InvalidKeyError [${t.name}]`, async (_what, key) => {
    const store = items(uniqueName('g'));
    const error = await store.insert(key, 'v').catch((e: unknown) => e);
    if (error === undefined) {
      // Stored: it must come back as the same key, not as a look-alike.
      expect(await store.names()).toEqual([key]);
      expect((await store.loadAll()).get(key)).toBe('v');
    } else {
      expect(error).toBeInstanceOf(InvalidKeyError);
      expect(await storedCount(sql, store.group)).toBe(0);
    }
  });

  it(`refuses an unstorable value with SerializationError, writing nothing [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await expect(store.insert('f', { f: () => 1 })).rejects.toBeInstanceOf(SerializationError);
    await store.insert('k', 'ok');
    await expect(store.update('k', Symbol('s'))).rejects.toBeInstanceOf(SerializationError);
    expect(await store.load('k')).toBe('ok');
    expect(await storedCount(sql, store.group)).toBe(1);
  });

  it(`names the group and key of a corrupted stored value; other keys still load [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await store.insert('good', { fine: true });
    const p = (n: number) => ph(sql.dialect, n);
    await lastValueFrom(
      sql.query(`INSERT INTO sasync_items (group_id, name, value) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [
        store.group,
        'broken',
        'not devalue text',
      ]),
    );
    const error = await store.load('broken').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain(store.group);
    expect((error as Error).message).toContain('broken');
    expect(await store.load('good')).toEqual({ fine: true });
    expect(sorted(await store.names())).toEqual(['broken', 'good']);
  });

  it(`fails load, insert, update, delete, names and loadAll after shutdown with BrokerClosedError [${t.name}]`, async () => {
    const store = items(uniqueName('g'));
    await store.insert('k', 1);
    await store.shutdown();
    await expect(store.load('k')).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(store.insert('j', 1)).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(store.update('k', 2)).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(store.delete('k')).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(store.names()).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(store.loadAll()).rejects.toBeInstanceOf(BrokerClosedError);
    await store.shutdown();
    expect(await storedRows(sql, store.group)).toEqual(new Map([['k', expect.any(String)]]));
  });

  it(`keeps two groups with different ids apart [${t.name}]`, async () => {
    const one = items(uniqueName('one'));
    const two = items(uniqueName('two'));
    await one.insert('shared', 1);
    await two.insert('shared', 2);
    await one.insert('only-one', true);
    expect(await one.load('shared')).toBe(1);
    expect(await two.load('shared')).toBe(2);
    expect(await two.load('only-one')).toBeInstanceOf(Missing);
    expect(sorted(await two.names())).toEqual(['shared']);
    await one.update('shared', 10);
    await one.delete('shared');
    expect(await two.load('shared')).toBe(2);
    expect(await two.loadAll()).toEqual(new Map([['shared', 2]]));
  });

  it(`shares a group with a PersistentDict: each sees the other's writes [${t.name}]`, async () => {
    const group = uniqueName('g');
    const store = items(group);
    const dict = new PersistentDict<string, unknown>(group, target);
    open.push(dict);
    await dict.set('from-dict', { n: 1 });
    await dict.flush();
    expect(await store.load('from-dict')).toEqual({ n: 1 });
    await store.insert('from-items', 'i');
    expect(await dict.get('from-items')).toBe('i');
    // A key the dict holds in memory follows an update made through Items.
    const updated = nextChange(dict.changes$, (c) => c.key === 'from-dict');
    await store.update('from-dict', { n: 2 });
    expect(await within(updated, 'the dict sees the update Items made')).toMatchObject({
      type: 'set',
      value: { n: 2 },
      origin: 'remote',
    });
    expect(await dict.get('from-dict')).toEqual({ n: 2 });
    const deleted = nextChange(dict.changes$, (c) => c.key === 'from-items');
    await store.delete('from-items');
    expect(await within(deleted, 'the dict sees the delete Items made')).toMatchObject({
      type: 'delete',
      origin: 'remote',
    });
    expect(await dict.has('from-items')).toBe(false);
    expect(sorted(await store.names())).toEqual(['from-dict']);
  });
});
