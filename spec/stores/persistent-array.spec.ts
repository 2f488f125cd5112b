import { lastValueFrom } from 'rxjs';
import {
  AccessBroker,
  BrokerClosedError,
  InvalidKeyError,
  PersistentArray,
  PersistentDict,
  SerializationError,
  type Change,
  type Coordinate,
  type Coordinates,
} from '../../lib';
import { ARRAY_TABLE } from '../../lib/stores/tables';
import { storedCount } from '../support/stores';
import { allTargets, ph, uniqueName } from '../support/targets';

describe.each(allTargets)('PersistentArray [$name]', (t) => {
  let target: string;
  /** Plain SQL on the same database; also keeps a memory database alive while stores come and go. */
  let sql: AccessBroker;
  const open: { shutdown(): Promise<void> }[] = [];
  const array = <V = unknown>(id: string | number) => {
    const store = new PersistentArray<V>(id, target);
    open.push(store);
    return store;
  };
  /** Shuts `store` down where a new instance must read from the database; on a memory database keeps it open. */
  const reopen = async <V>(store: PersistentArray<V>, id: string): Promise<PersistentArray<V>> => {
    await store.flush();
    if (t.name !== 'sqlite-memory') await store.shutdown();
    return array<V>(id);
  };

  beforeEach(async () => {
    target = t.target();
    sql = new AccessBroker(target);
    // The table exists from here on, for the SQL the tests run themselves.
    const boot = array(uniqueName('boot'));
    await boot.get(0, 0, 0);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.shutdown()));
    await sql.shutdown();
  });

  const places: [Coordinate, Coordinate, Coordinate][] = [
    [1, '1', null],
    ['1', 1, null],
    [1, 1, null],
    ['1', '1', null],
    [null, null, null],
    ['~', null, null],
    ['n1', '1', null],
    ['', 0, -1.5],
    [1, '1', 'z'],
  ];

  it(`gets, sets and deletes elements; (1, '1', null) and its look-alikes are different places [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<string>(id);
    for (const [i, [x, y, z]] of places.entries()) await grid.set(x, y, z, `v${i}`);
    for (const [i, [x, y, z]] of places.entries()) expect(await grid.get(x, y, z)).toBe(`v${i}`);
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(places.length);
    await grid.delete(1, '1', null);
    expect(await grid.get(1, '1', null)).toBeUndefined();
    expect(await grid.get('1', 1, null)).toBe('v1');
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(places.length - 1);
    // A new instance reads every place back from the table.
    const again = await reopen(grid, id);
    expect(await again.get(1, '1', null)).toBeUndefined();
    for (const [i, [x, y, z]] of places.entries()) {
      if (i > 0) expect(await again.get(x, y, z)).toBe(`v${i}`);
    }
  });

  it(`gets undefined for a place never set, in memory and from the table [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array(id);
    await grid.set(0, 0, 0, 'origin');
    expect(await grid.get(0, 0, 1)).toBeUndefined();
    expect(await grid.get('x', null, 'y')).toBeUndefined();
    const other = array(id);
    expect(await other.get(0, 0, 1)).toBeUndefined();
    expect(await other.get(0, 0, 0)).toBe('origin');
  });

  it(`keeps a falsy element (0, '', false, null) apart from an unset one [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array(id);
    const values = [0, '', false, null];
    for (const [i, v] of values.entries()) await grid.set(i, 0, 0, v);
    const again = await reopen(grid, id);
    for (const [i, v] of values.entries()) expect(await again.get(i, 0, 0)).toBe(v);
  });

  it(`clear() empties this array only; another array on the database keeps its elements [${t.name}]`, async () => {
    const [idA, idB] = [uniqueName('a'), uniqueName('b')];
    const a = array(idA);
    const b = array(idB);
    await Promise.all([a.set(1, 1, 1, 'a1'), a.set(2, 2, 2, 'a2'), b.set(1, 1, 1, 'b1')]);
    await a.clear();
    expect(await a.get(1, 1, 1)).toBeUndefined();
    expect(await a.get(2, 2, 2)).toBeUndefined();
    expect(await b.get(1, 1, 1)).toBe('b1');
    expect(await storedCount(sql, idA, ARRAY_TABLE)).toBe(0);
    expect(await storedCount(sql, idB, ARRAY_TABLE)).toBe(1);
    expect(await array(idA).get(1, 1, 1)).toBeUndefined();
    expect(await array(idB).get(1, 1, 1)).toBe('b1');
    // Usable again after clear().
    await a.set(3, 3, 3, 'a3');
    expect(await array(idA).get(3, 3, 3)).toBe('a3');
  });

  it(`changes$ emits set, delete and clear with [x, y, z] keys, values and origin 'local'; completes on shutdown [${t.name}]`, async () => {
    const grid = array<string>(uniqueName('a'));
    const changes: Change<Coordinates, string>[] = [];
    let completed = false;
    grid.changes$.subscribe({ next: (c) => changes.push(c), complete: () => (completed = true) });
    await grid.set(1, 'y', null, 'first');
    await grid.set(1, 'y', null, 'second');
    await grid.delete(1, 'y', null);
    await grid.set('x', 2, 3, 'other');
    await grid.clear();
    expect(changes).toEqual([
      { type: 'set', key: [1, 'y', null], value: 'first', previous: undefined, origin: 'local' },
      { type: 'set', key: [1, 'y', null], value: 'second', previous: 'first', origin: 'local' },
      { type: 'delete', key: [1, 'y', null], value: undefined, previous: 'second', origin: 'local' },
      { type: 'set', key: ['x', 2, 3], value: 'other', previous: undefined, origin: 'local' },
      { type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'local' },
    ]);
    expect(completed).toBe(false);
    await grid.shutdown();
    expect(completed).toBe(true);
  });

  it(`keeps its elements across shutdown and reopening under the same id [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<unknown>(id);
    await Promise.all([
      grid.set(0, 0, 0, { at: 'origin' }),
      grid.set('row', 7, null, [1, 2, 3]),
      grid.set(null, null, 'z', new Map([['k', new Date(0)]])),
    ]);
    await grid.set(0, 0, 0, 'overwritten');
    await grid.set('gone', 0, 0, 'soon deleted');
    await grid.delete('gone', 0, 0);
    const again = await reopen(grid, id);
    expect(await again.get(0, 0, 0)).toBe('overwritten');
    expect(await again.get('row', 7, null)).toEqual([1, 2, 3]);
    expect(await again.get(null, null, 'z')).toEqual(new Map([['k', new Date(0)]]));
    expect(await again.get('gone', 0, 0)).toBeUndefined();
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(3);
  });

  it(`shares one database with a PersistentDict; both persist [${t.name}]`, async () => {
    const [arrayId, dictId] = [uniqueName('a'), uniqueName('d')];
    const grid = array<number>(arrayId);
    const dict = new PersistentDict<string, number>(dictId, target);
    open.push(dict);
    await Promise.all([grid.set(1, 2, 3, 123), dict.set('k', 456), grid.set(3, 2, 1, 321), dict.set('j', 789)]);
    await Promise.all([grid.flush(), dict.flush()]);
    if (t.name !== 'sqlite-memory') await Promise.all([grid.shutdown(), dict.shutdown()]);
    const gridAgain = array<number>(arrayId);
    const dictAgain = new PersistentDict<string, number>(dictId, target);
    open.push(dictAgain);
    expect(await gridAgain.get(1, 2, 3)).toBe(123);
    expect(await gridAgain.get(3, 2, 1)).toBe(321);
    expect(await dictAgain.loadAll()).toEqual(
      new Map([
        ['k', 456],
        ['j', 789],
      ]),
    );
    expect(await storedCount(sql, arrayId, ARRAY_TABLE)).toBe(2);
  });

  it(`writes one row for a place written twice, by one instance or by two [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<string>(id);
    await grid.set('x', 'y', 'z', 'one');
    await grid.set('x', 'y', 'z', 'two');
    const other = array<string>(id);
    await other.set('x', 'y', 'z', 'three');
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(1);
    expect(await array<string>(id).get('x', 'y', 'z')).toBe('three');
  });

  it.each([
    ['an object', {}],
    ['undefined', undefined],
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
    ['a boolean', true],
    ['a 255-character string', 'c'.repeat(255)],
  ])(`refuses a coordinate that is %s with InvalidKeyError, writing nothing [${t.name}]`, async (_what, bad) => {
    const id = uniqueName('a');
    const grid = array(id);
    const c = bad as Coordinate;
    const changes: unknown[] = [];
    grid.changes$.subscribe((change) => changes.push(change));
    const badPlaces: [Coordinate, Coordinate, Coordinate][] = [
      [c, 0, 0],
      [0, c, 0],
      [0, 0, c],
    ];
    for (const place of badPlaces) {
      await expect(grid.set(...place, 'v')).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(grid.get(...place)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(grid.delete(...place)).rejects.toBeInstanceOf(InvalidKeyError);
    }
    await grid.flush();
    expect(changes).toEqual([]);
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(0);
  });

  it(`keeps two coordinate strings that differ only in a lone surrogate apart, or refuses them [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<string>(id);
    const refused = await grid.set('\ud800', 0, 0, 'high').then(
      () => false,
      (e: unknown) => (expect(e).toBeInstanceOf(InvalidKeyError), true),
    );
    if (refused) return;
    await grid.set('\udc00', 0, 0, 'low');
    const fresh = await reopen(grid, id);
    expect(await fresh.get('\ud800', 0, 0)).toBe('high');
    expect(await fresh.get('\udc00', 0, 0)).toBe('low');
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(2);
  });

  it(`keeps or refuses a coordinate string with a NUL character, never failing other elements' writes [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<string>(id);
    // Both writes are recorded before the write transaction starts: they travel in one batch.
    const good = grid.set(0, 0, 0, 'ok');
    const odd = grid.set('x\u0000y', 0, 0, 'nul').then(
      () => 'stored',
      (e: unknown) => e,
    );
    await expect(good).resolves.toBeUndefined();
    const outcome = await odd;
    const fresh = await reopen(grid, id);
    expect(await fresh.get(0, 0, 0)).toBe('ok');
    if (outcome === 'stored') {
      expect(await fresh.get('x\u0000y', 0, 0)).toBe('nul');
    } else {
      expect(outcome).toBeInstanceOf(InvalidKeyError);
      expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(1);
    }
  });

  it(`takes a coordinate string of 254 characters [${t.name}]`, async () => {
    const id = uniqueName('a');
    const long = 'c'.repeat(254);
    await array(id).set(long, long, long, 'far');
    expect(await array(id).get(long, long, long)).toBe('far');
  });

  it(`refuses an unstorable value with SerializationError; element, changes and table unchanged [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array<unknown>(id);
    await grid.set(0, 0, 0, 'kept');
    const changes: unknown[] = [];
    grid.changes$.subscribe((change) => changes.push(change));
    await expect(grid.set(0, 0, 0, () => 1)).rejects.toBeInstanceOf(SerializationError);
    await expect(grid.set(1, 0, 0, { nested: [Symbol('s')] })).rejects.toBeInstanceOf(SerializationError);
    await grid.flush();
    expect(changes).toEqual([]);
    expect(await grid.get(0, 0, 0)).toBe('kept');
    expect(await grid.get(1, 0, 0)).toBeUndefined();
    expect(await storedCount(sql, id, ARRAY_TABLE)).toBe(1);
    expect(await array(id).get(0, 0, 0)).toBe('kept');
  });

  it(`rejects get of a corrupted stored element with SerializationError; other elements still load [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array(id);
    await grid.set(0, 0, 0, 'good');
    const p = (n: number) => ph(sql.dialect, n);
    // Coordinates as stored: 'n' + number, 's' + string, '~' for null.
    await lastValueFrom(
      sql.query(
        `INSERT INTO sasync_array (group_id, x, y, z, value) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)})`,
        [id, 'sbad', 'n1', '~', 'not devalue text'],
      ),
    );
    const fresh = array(id);
    const error = await fresh.get('bad', 1, null).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SerializationError);
    expect((error as Error).message).toContain(id);
    expect(await fresh.get(0, 0, 0)).toBe('good');
  });

  it(`fails get, set, delete and clear after shutdown with BrokerClosedError [${t.name}]`, async () => {
    const id = uniqueName('a');
    const grid = array(id);
    await grid.set(0, 0, 0, 'kept');
    await grid.shutdown();
    await expect(grid.get(0, 0, 0)).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(grid.set(0, 0, 0, 'late')).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(grid.delete(0, 0, 0)).rejects.toBeInstanceOf(BrokerClosedError);
    await expect(grid.clear()).rejects.toBeInstanceOf(BrokerClosedError);
    await grid.shutdown();
    expect(await array(id).get(0, 0, 0)).toBe('kept');
  });
});
