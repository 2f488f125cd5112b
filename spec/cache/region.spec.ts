import {
  type CacheBackend,
  CacheRegion,
  cacheOn,
  cached,
  MemoryBackend,
  SerializationError,
  sha256KeyMangler,
} from '../../lib';
import { useVirtualClock } from '../support/virtual-clock';

/** A creator whose calls the test counts and settles by hand. */
function controlledCreator<V>() {
  const calls: { resolve(v: V): void; reject(e: unknown): void }[] = [];
  const fn = jest.fn(
    () =>
      new Promise<V>((resolve, reject) => {
        calls.push({ resolve, reject });
      }),
  );
  return { fn, calls };
}

/** Lets promise jobs run (no time passes). */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('CacheRegion on memory', () => {
  const time = useVirtualClock();

  it('runs one creator for 1,000 concurrent callers of a missing key, and all get its value', async () => {
    const region = new CacheRegion<number>();
    const creator = controlledCreator<number>();
    const all = Promise.all(Array.from({ length: 1000 }, () => region.getOrCreate('k', creator.fn)));
    await settle();
    expect(creator.fn).toHaveBeenCalledTimes(1);
    creator.calls[0]!.resolve(42);
    expect(new Set(await all)).toEqual(new Set([42]));
    expect(await region.getOrCreate('k', creator.fn)).toBe(42);
    expect(creator.fn).toHaveBeenCalledTimes(1);
  });

  it('serves the stale value at once within grace while one creator makes the new one', async () => {
    const region = new CacheRegion<string>({ expiration: 1000, grace: 5000 });
    await region.set('k', 'old');
    await time.current.advance(1500);
    const creator = controlledCreator<string>();
    const answers = await Promise.all(Array.from({ length: 100 }, () => region.getOrCreate('k', creator.fn)));
    expect(new Set(answers)).toEqual(new Set(['old']));
    expect(creator.fn).toHaveBeenCalledTimes(1);
    creator.calls[0]!.resolve('new');
    await settle();
    expect(await region.getOrCreate('k', creator.fn)).toBe('new');
    expect(creator.fn).toHaveBeenCalledTimes(1);
  });

  it('reads per-call timing at every call: a changed options object counts, a frozen one is checked once', async () => {
    const region = new CacheRegion<string>();
    await region.set('k', 'old');
    await time.current.advance(1500);
    const creator = jest.fn(() => 'new');
    const options: { expiration: number; grace?: number } = { expiration: 10_000 };
    expect(await region.getOrCreate('k', creator, options)).toBe('old');
    // The same object, changed: the next call sees the change (expired, no grace: made again).
    options.expiration = 1000;
    options.grace = 0;
    expect(await region.getOrCreate('k', creator, options)).toBe('new');
    expect(creator).toHaveBeenCalledTimes(1);
    options.expiration = -1;
    expect(() => region.getOrCreate('k', creator, options)).toThrow(RangeError);
    const frozen = Object.freeze({ expiration: 1000, grace: 0 });
    await time.current.advance(1500);
    expect(await region.getOrCreate('k', creator, frozen)).toBe('new');
    expect(await region.getOrCreate('k', creator, frozen)).toBe('new');
    expect(creator).toHaveBeenCalledTimes(2);
  });

  it('makes callers wait past grace', async () => {
    const region = new CacheRegion<string>({ expiration: 1000, grace: 500 });
    await region.set('k', 'old');
    await time.current.advance(1500);
    const creator = controlledCreator<string>();
    let answered: string | undefined;
    const answer = region.getOrCreate('k', creator.fn).then((v) => (answered = v));
    await settle();
    expect(answered).toBeUndefined();
    creator.calls[0]!.resolve('new');
    await answer;
    expect(answered).toBe('new');
  });

  it('after a throwing creator, keeps serving the stale value until grace runs out, then the error reaches callers', async () => {
    const region = new CacheRegion<string>({ expiration: 1000, grace: 5000 });
    const failures: unknown[] = [];
    region.failures$.subscribe((f) => failures.push(f.error));
    await region.set('k', 'old');
    await time.current.advance(1500);
    const boom = new Error('boom');
    const creator = jest.fn(() => Promise.reject(boom));
    expect(await region.getOrCreate('k', creator)).toBe('old');
    await settle();
    expect(failures).toEqual([boom]);
    // The lock was released: the next caller starts a creator again, and still gets the stale value.
    expect(await region.getOrCreate('k', creator)).toBe('old');
    await settle();
    expect(creator).toHaveBeenCalledTimes(2);
    await time.current.advance(5000);
    await expect(region.getOrCreate('k', creator)).rejects.toBe(boom);
    // Still nothing new cached: the stale entry is what the backend has.
    expect(await region.get('k', { grace: Infinity, expiration: 1e9 })).toBe('old');
  });

  it('sends the error to every waiting caller of a missing key, then runs the creator again for the next', async () => {
    const region = new CacheRegion<string>();
    const creator = controlledCreator<string>();
    const waiting = Array.from({ length: 10 }, () => region.getOrCreate('k', creator.fn));
    await settle();
    creator.calls[0]!.reject(new Error('down'));
    for (const w of waiting) await expect(w).rejects.toThrow('down');
    const again = region.getOrCreate('k', creator.fn);
    await settle();
    expect(creator.fn).toHaveBeenCalledTimes(2);
    creator.calls[1]!.resolve('up');
    expect(await again).toBe('up');
  });

  it('getOrCreateMulti calls the creator once with exactly the missing and expired keys', async () => {
    const region = new CacheRegion<string>({ expiration: 1000, grace: 0 });
    await region.set('a', 'A0');
    await time.current.advance(2000);
    await region.set('b', 'B0');
    const creator = jest.fn((keys: string[]) => keys.map((k) => `${k.toUpperCase()}1`));
    expect(await region.getOrCreateMulti(['a', 'b', 'c', 'd'], creator)).toEqual(['A1', 'B0', 'C1', 'D1']);
    expect(creator).toHaveBeenCalledTimes(1);
    expect(creator.mock.calls[0]![0].sort()).toEqual(['a', 'c', 'd']);
    expect(await region.getOrCreateMulti(['a', 'b', 'c', 'd'], creator)).toEqual(['A1', 'B0', 'C1', 'D1']);
    expect(creator).toHaveBeenCalledTimes(1);
  });

  it('getOrCreate of a key a multi call is making waits for that call', async () => {
    const region = new CacheRegion<string>();
    let finish!: (v: string[]) => void;
    const creator = jest.fn((keys: string[]) =>
      new Promise<string[]>((r) => (finish = r)).then((v) => v.slice(0, keys.length)),
    );
    const multi = region.getOrCreateMulti(['x', 'y'], creator);
    await settle();
    const single = jest.fn(() => 'other');
    const x = region.getOrCreate('x', single);
    finish(['X', 'Y']);
    expect(await multi).toEqual(['X', 'Y']);
    expect(await x).toBe('X');
    expect(single).not.toHaveBeenCalled();
  });

  it('invalidate(key) and invalidate() make the next caller run the creator', async () => {
    const region = new CacheRegion<number>();
    let n = 0;
    const creator = () => ++n;
    await region.getOrCreate('a', creator);
    await region.getOrCreate('b', creator);
    await region.invalidate('a');
    expect(await region.getOrCreate('a', creator)).toBe(3);
    expect(await region.getOrCreate('b', creator)).toBe(2);
    await region.invalidate();
    expect(await region.get('b')).toBeUndefined();
    expect(await region.getOrCreate('b', creator)).toBe(4);
  });

  it('peek() gives a fresh value synchronously, never runs a creator, and is undefined when missing or stale', async () => {
    const region = new CacheRegion<string>({ expiration: 1000, grace: 5000, keyMangler: (k) => `m:${k}` });
    const creator = jest.fn(() => 'made');
    expect(region.peek('k')).toBeUndefined();
    await region.set('k', 'v');
    expect(region.peek('k')).toBe('v');
    expect(region.peek('k', { expiration: 10 })).toBe('v');
    await time.current.advance(1500);
    expect(region.peek('k')).toBeUndefined();
    expect(region.peek('k', { expiration: 2000 })).toBe('v');
    expect(await region.getOrCreate('k', creator)).toBe('v');
    await settle();
    expect(region.peek('k')).toBe('made');
    expect(creator).toHaveBeenCalledTimes(1);
    expect(() => region.peek('')).toThrow(TypeError);
    expect(() => region.peek('k', { expiration: 0 })).toThrow(RangeError);
  });

  it('peek() is undefined when the backend answers asynchronously, and a failing read does not go unhandled', async () => {
    const memory = new MemoryBackend();
    await memory.set('k', { value: 'v', createdAt: 0 });
    const asyncBackend = (get: CacheBackend['get']): CacheBackend => ({
      get,
      set: (key, entry) => memory.set(key, entry),
      delete: (key) => memory.delete(key),
      clear: () => memory.clear(),
    });
    const slow = asyncBackend((key) => Promise.resolve(memory.get(key)));
    const failing = asyncBackend(() => Promise.reject(new Error('backend down')));
    // A thenable with no catch (a user backend's own promise type).
    const thenable = asyncBackend(
      () => ({ then: (_: unknown, reject: (e: unknown) => void) => reject(new Error('down')) }) as never,
    );
    const unhandled = jest.fn();
    process.on('unhandledRejection', unhandled);
    try {
      expect(new CacheRegion<string>({ backend: slow }).peek('k')).toBeUndefined();
      expect(new CacheRegion<string>({ backend: failing }).peek('k')).toBeUndefined();
      expect(new CacheRegion<string>({ backend: thenable }).peek('k')).toBeUndefined();
      await settle();
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it("peek() asks a backend's peek, never its get: a value not in memory is not read", () => {
    const get = jest.fn(() => Promise.resolve({ value: 'v', createdAt: 0 }));
    const backend: CacheBackend = {
      get,
      peek: (key) => (key === 'here' ? { value: 'h', createdAt: 0 } : undefined),
      set: () => undefined,
      delete: () => undefined,
      clear: () => undefined,
    };
    const region = new CacheRegion<string>({ backend });
    expect(region.peek('here')).toBe('h');
    expect(region.peek('elsewhere')).toBeUndefined();
    expect(get).not.toHaveBeenCalled();
  });

  it('mangles keys before the backend sees them', async () => {
    const backend = new MemoryBackend();
    const region = new CacheRegion<string>({ backend, keyMangler: sha256KeyMangler });
    await region.set('x'.repeat(1000), 'v');
    expect(backend.get(sha256KeyMangler('x'.repeat(1000)))?.value).toBe('v');
    expect(await region.get('x'.repeat(1000))).toBe('v');
  });

  it('cacheOn caches a function by its arguments, and invalidates one call', async () => {
    const region = new CacheRegion<number>();
    const made = jest.fn();
    async function square(n: number): Promise<number> {
      made(n);
      return n * n;
    }
    const cachedSquare = cacheOn(region, square);
    expect(await cachedSquare(3)).toBe(9);
    expect(await cachedSquare(3)).toBe(9);
    expect(await cachedSquare(4)).toBe(16);
    expect(made).toHaveBeenCalledTimes(2);
    expect(cachedSquare.key(3)).toBe('square:[3]');
    await cachedSquare.invalidate(3);
    await cachedSquare(3);
    expect(made).toHaveBeenCalledTimes(3);
  });

  it('@cached caches a method by its arguments, shared by instances', async () => {
    const region = new CacheRegion<string>();
    const made = jest.fn();
    class Reports {
      @cached(region, { expiration: 60_000 })
      async top(limit: number): Promise<string> {
        made(limit);
        return `top ${limit}`;
      }
    }
    expect(await new Reports().top(3)).toBe('top 3');
    expect(await new Reports().top(3)).toBe('top 3');
    expect(made).toHaveBeenCalledTimes(1);
    expect(await region.get('Reports.top:[3]')).toBe('top 3');
  });
});

describe('CacheRegion bad input', () => {
  it('refuses an expiration or grace out of range at once, with RangeError', () => {
    for (const expiration of [0, -1, NaN, '5' as unknown as number]) {
      expect(() => new CacheRegion({ expiration })).toThrow(RangeError);
    }
    for (const grace of [-1, NaN]) expect(() => new CacheRegion({ grace })).toThrow(RangeError);
    const region = new CacheRegion();
    expect(() => region.getOrCreate('k', () => 1, { expiration: -5 })).toThrow(/expiration must be a number of ms > 0/);
    expect(() => region.getOrCreate('k', () => 1, { grace: -5 })).toThrow(/grace must be a number of ms ≥ 0/);
    expect(() => cacheOn(region, (n: number) => n, { namespace: 'n', grace: -1 })).toThrow(RangeError);
  });

  it('refuses a creator returning undefined with SerializationError, caching nothing', async () => {
    const region = new CacheRegion();
    const backend = region.backend as MemoryBackend;
    const failed = region.getOrCreate('k', () => undefined);
    await expect(failed).rejects.toBeInstanceOf(SerializationError);
    await expect(failed).rejects.toThrow(
      /returned undefined.*return null for "nothing", or throw\. Nothing was cached/,
    );
    expect(backend.size).toBe(0);
    await expect(region.set('k', undefined)).rejects.toBeInstanceOf(SerializationError);
    await expect(region.getOrCreateMulti(['a', 'b'], () => [1, undefined])).rejects.toBeInstanceOf(SerializationError);
    expect(backend.size).toBe(0);
    // It keeps working.
    expect(await region.getOrCreate('k', () => 1)).toBe(1);
  });

  it('refuses empty keys, a missing creator, an anonymous function without namespace, and a short multi answer', async () => {
    const region = new CacheRegion<number>();
    expect(() => region.getOrCreate('', () => 1)).toThrow(TypeError);
    expect(() => region.getOrCreate('k', undefined as unknown as () => number)).toThrow(TypeError);
    expect(() =>
      cacheOn(
        region,
        (
          () => (n: number) =>
            n
        )(),
      ),
    ).toThrow(/needs a namespace/);
    await expect(region.getOrCreateMulti(['a', 'b'], () => [1])).rejects.toThrow(/one value per key/);
  });
});

describe('CacheRegion close', () => {
  it('waits for the creators running before closing the backend', async () => {
    const closed = jest.fn();
    const backend = Object.assign(new MemoryBackend(), { close: async () => closed() });
    const region = new CacheRegion<string>({ backend });
    let finish!: (v: string) => void;
    const value = region.getOrCreate('k', () => new Promise<string>((r) => (finish = r)));
    const closing = region.close();
    await new Promise<void>((r) => setImmediate(r));
    expect(closed).not.toHaveBeenCalled();
    finish('v');
    await closing;
    expect(closed).toHaveBeenCalledTimes(1);
    expect(await value).toBe('v');
    expect(backend.get('k')?.value).toBe('v');
  });
});
