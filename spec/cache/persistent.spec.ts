import {
  CacheRegion,
  devalueSerializer,
  PersistentBackend,
  SerializationError,
  TimeoutError,
  type Serializer,
} from '../../lib';
import { until, within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

/** devalue, counting the values it reads back. */
function countingSerializer(): Serializer & { decoded: number } {
  const s = {
    decoded: 0,
    encode: (v: unknown) => devalueSerializer.encode(v),
    decode(text: string) {
      s.decoded++;
      return devalueSerializer.decode(text);
    },
  };
  return s;
}

describe.each(allTargets)('a region on a PersistentBackend [$name]', (t) => {
  const time = useVirtualClock();
  let target: string;
  let group: string;
  const opened: CacheRegion<unknown>[] = [];
  const open = (options: { serializer?: Serializer } = {}) => {
    const region = new CacheRegion<unknown>({
      backend: new PersistentBackend(target, { group, ...options }),
      expiration: 1000,
      grace: 5000,
    });
    opened.push(region);
    return region;
  };

  beforeEach(() => {
    target = t.target();
    group = uniqueName('cache');
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((r) => r.close()));
  });

  it(`serves the stale value during regeneration, then the new one, stored for other regions [${t.name}]`, async () => {
    const region = open();
    await region.set('k', 'old');
    await time.current.advance(1500);
    let finish!: (v: string) => void;
    const creator = jest.fn(() => new Promise<string>((r) => (finish = r)));
    const answers = await Promise.all(Array.from({ length: 50 }, () => region.getOrCreate('k', creator)));
    expect(new Set(answers)).toEqual(new Set(['old']));
    await until(() => creator.mock.calls.length > 0, 'the creator runs');
    finish('new');
    await until(async () => (await region.get('k')) === 'new', 'the new value is stored');
    expect(creator).toHaveBeenCalledTimes(1);
    expect(await open().get('k')).toBe('new');
  });

  it(`releases the lock after a throwing creator, and serves the stale value until grace runs out [${t.name}]`, async () => {
    const region = open();
    await region.set('k', 'old');
    await time.current.advance(1500);
    const failures: unknown[] = [];
    region.failures$.subscribe((f) => failures.push(f.error));
    const creator = jest.fn(() => Promise.reject(new Error('report failed')));
    expect(await region.getOrCreate('k', creator)).toBe('old');
    await until(() => failures.length === 1, 'the failure is reported');
    // Another creator can run: the lock was released (bounded: a lock left held would wait on the virtual clock).
    expect(await within(region.getOrCreate('k', creator), 'getOrCreate after the release')).toBe('old');
    await until(() => failures.length === 2, 'the second failure is reported');
    await time.current.advance(5000);
    await expect(within(region.getOrCreate('k', creator), 'getOrCreate of a dead key')).rejects.toThrow(
      'report failed',
    );
    expect(
      await within(
        region.getOrCreate('k', () => 'fixed'),
        'getOrCreate after the failure',
      ),
    ).toBe('fixed');
  });

  it(`getOrCreateMulti calls the creator once with exactly the missing keys [${t.name}]`, async () => {
    const region = open();
    await region.set('b', 'B');
    const creator = jest.fn((keys: string[]) => keys.map((k) => k.toUpperCase()));
    expect(await region.getOrCreateMulti(['a', 'b', 'c'], creator)).toEqual(['A', 'B', 'C']);
    expect(creator.mock.calls).toEqual([[['a', 'c']]]);
    expect(await open().getOrCreateMulti(['a', 'b', 'c'], creator)).toEqual(['A', 'B', 'C']);
    expect(creator).toHaveBeenCalledTimes(1);
  });

  it(`decodes a value once per read from the database, and not at all for a memory hit [${t.name}]`, async () => {
    await open().getOrCreate('k', () => ({ rows: [1, 2, 3] }));
    const serializer = countingSerializer();
    const reader = open({ serializer });
    for (let i = 0; i < 5; i++)
      expect(await reader.getOrCreate('k', () => ({ rows: [] }))).toEqual({ rows: [1, 2, 3] });
    expect(serializer.decoded).toBe(1);
  });

  it(`peek() answers a memory hit synchronously, and undefined for a value only in the database or stale [${t.name}]`, async () => {
    await open().set('k', { n: 1 });
    const reader = open();
    // Only in the database: peek cannot answer without a read, and starts none.
    expect(reader.peek('k')).toBeUndefined();
    expect((reader.backend as PersistentBackend).peek('k')).toBeUndefined();
    expect(await reader.get('k')).toEqual({ n: 1 });
    expect(reader.peek('k')).toEqual({ n: 1 });
    await time.current.advance(1500);
    expect(reader.peek('k')).toBeUndefined();
    expect(await reader.getOrCreate('k', () => ({ n: 2 }))).toEqual({ n: 1 });
  });

  it(`an invalidation in one region reaches another on the same database [${t.name}]`, async () => {
    const a = open();
    const b = open();
    await a.set('k', 'v1');
    expect(await b.get('k')).toBe('v1');
    await a.invalidate('k');
    await until(async () => (await b.get('k')) === undefined, 'b learns of the invalidation');
    await a.set('k', 'v2');
    await until(async () => (await b.get('k')) === 'v2', 'b learns of the new value');
  });

  it(`refuses an unserializable value or undefined with SerializationError, caching nothing [${t.name}]`, async () => {
    const region = open();
    const backend = region.backend as PersistentBackend;
    await expect(region.getOrCreate('f', () => ({ fn: () => 1 }))).rejects.toBeInstanceOf(SerializationError);
    await expect(region.getOrCreate('u', () => undefined)).rejects.toBeInstanceOf(SerializationError);
    expect(await backend.getFresh('f')).toBeUndefined();
    expect(await backend.getFresh('u')).toBeUndefined();
    expect(await region.getOrCreate('f', () => 'plain')).toBe('plain');
    // Several keys: one value refused partway stores none of them, not the ones before it.
    await expect(
      region.getOrCreateMulti(['m1', 'm2', 'm3'], async () => ['one', { fn: () => 2 }, 'three']),
    ).rejects.toBeInstanceOf(SerializationError);
    for (const key of ['m1', 'm2', 'm3']) expect(await backend.getFresh(key)).toBeUndefined();
    expect(await region.getOrCreateMulti(['m1', 'm2'], async (keys) => keys.map((k) => `${k}!`))).toEqual([
      'm1!',
      'm2!',
    ]);
  });
});

describe('PersistentBackend bad input', () => {
  it('refuses a lockTimeout or lease that is not a positive number', () => {
    expect(() => new PersistentBackend('sqlite::memory:', { lockTimeout: 0 })).toThrow(RangeError);
    expect(() => new PersistentBackend('sqlite::memory:', { lease: -1 })).toThrow(RangeError);
  });
});

describe.each(allTargets)('cache locks [$name]', (t) => {
  const time = useVirtualClock();

  it(`a caller waits for another backend's lock at most lockTimeout, then gets TimeoutError; the lock is free after release [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('cache');
    const holder = new PersistentBackend(target, { group });
    const waiter = new CacheRegion({ backend: new PersistentBackend(target, { group, lockTimeout: 1000 }) });
    try {
      const lock = await holder.lock('k');
      const creator = jest.fn(() => 'made');
      const waited = waiter.getOrCreate('k', creator);
      let outcome: unknown;
      waited.then(
        (v) => (outcome = v),
        (e: unknown) => (outcome = e),
      );
      // Moves virtual time on each time the waiter pauses between attempts, until it gives up.
      while (outcome === undefined) {
        await until(() => time.current.pending() > 0 || outcome !== undefined, 'the waiter pauses or gives up');
        if (outcome === undefined) await time.current.advance(250);
      }
      expect(outcome).toBeInstanceOf(TimeoutError);
      expect((outcome as TimeoutError).message).toMatch(/waited 1000 ms for the cache lock of "k".*raise lockTimeout/);
      expect(creator).not.toHaveBeenCalled();
      await lock.release();
      expect(await within(waiter.getOrCreate('k', creator), 'getOrCreate after the release')).toBe('made');
    } finally {
      await Promise.all([waiter.close(), holder.close()]);
    }
    // The wait's timers, and the stores' (the change log's poller and pruning), are all gone once closed.
    expect(time.current.pending()).toBe(0);
  });
});
