import {
  AccessBroker,
  MissingKeyError,
  Items,
  PersistentDict,
  SerializationError,
  devalueSerializer,
  type Change,
  type Serializer,
} from '../../lib';
import { storedCount, storedRows } from '../support/stores';
import { allTargets, uniqueName } from '../support/targets';

function roundTrip<T>(value: T): T {
  return devalueSerializer.decode(devalueSerializer.encode(value)) as T;
}

/** The SerializationError encode() throws for `value` (fails the test if it throws nothing). */
function encodeError(value: unknown): SerializationError {
  try {
    devalueSerializer.encode(value);
  } catch (error) {
    expect(error).toBeInstanceOf(SerializationError);
    return error as SerializationError;
  }
  throw new Error('encode() accepted a value it cannot store');
}

describe('devalueSerializer round trips', () => {
  it.each(['', 'plain', 'héllo wörld 🌍 日本語', 'NUL \u0000, lone surrogate \ud800, \u2028', '"quoted" \\ \n\t'])(
    'keeps the string %j',
    (s) => {
      expect(roundTrip(s)).toBe(s);
    },
  );

  it.each([0, 1.5, -273.15, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, Number.MAX_VALUE])(
    'keeps the number %p',
    (n) => {
      expect(roundTrip(n)).toBe(n);
    },
  );

  it('keeps -0 as -0, NaN, Infinity and -Infinity', () => {
    expect(Object.is(roundTrip(-0), -0)).toBe(true);
    expect(Object.is(roundTrip(0), 0)).toBe(true);
    expect(Number.isNaN(roundTrip(NaN))).toBe(true);
    expect(roundTrip(Infinity)).toBe(Infinity);
    expect(roundTrip(-Infinity)).toBe(-Infinity);
  });

  it('keeps true, false, null and undefined at the top level', () => {
    expect(roundTrip(true)).toBe(true);
    expect(roundTrip(false)).toBe(false);
    expect(roundTrip(null)).toBeNull();
    expect(roundTrip(undefined)).toBeUndefined();
  });

  it('keeps a property whose value is undefined, as structuredClone does', () => {
    const back = roundTrip({ a: undefined, b: 1 });
    expect(Object.keys(back)).toEqual(['a', 'b']);
    expect('a' in back).toBe(true);
    expect(back.a).toBeUndefined();
    const array = roundTrip([undefined, 1]);
    expect(array).toHaveLength(2);
    expect(0 in array).toBe(true);
  });

  it('keeps a Date to the millisecond, and an invalid Date as an invalid Date', () => {
    const when = new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999));
    const back = roundTrip(when);
    expect(back).toBeInstanceOf(Date);
    expect(back.getTime()).toBe(when.getTime());
    const invalid = roundTrip(new Date(NaN));
    expect(invalid).toBeInstanceOf(Date);
    expect(Number.isNaN(invalid.getTime())).toBe(true);
  });

  it('keeps a Map with object keys, and the identity of an object used as key and value', () => {
    const key = { k: 1 };
    const back = roundTrip(
      new Map<unknown, unknown>([
        [key, 'object key'],
        ['string key', key],
        [2, [1, 2]],
      ]),
    );
    expect(back).toBeInstanceOf(Map);
    const entries = [...back.entries()];
    expect(entries).toHaveLength(3);
    expect(entries[0]![0]).toEqual({ k: 1 });
    expect(entries[0]![1]).toBe('object key');
    expect(entries[1]![1]).toBe(entries[0]![0]);
    expect(back.get(2)).toEqual([1, 2]);
  });

  it('keeps a Set', () => {
    const back = roundTrip(new Set<unknown>([1, 'a', null, { x: 1 }]));
    expect(back).toBeInstanceOf(Set);
    expect([...back]).toEqual([1, 'a', null, { x: 1 }]);
  });

  it('keeps huge BigInts, positive and negative', () => {
    const huge = 2n ** 300n + 7n;
    expect(roundTrip(huge)).toBe(huge);
    expect(roundTrip(-huge)).toBe(-huge);
    expect(roundTrip(0n)).toBe(0n);
  });

  it('brings a Buffer back as a Buffer with the same bytes (also one cut from the shared pool)', () => {
    const bytes = Buffer.from([0, 1, 2, 127, 128, 254, 255]);
    const back = roundTrip(bytes);
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back.equals(bytes)).toBe(true);
    // Buffer.from of a short string is a view into a larger shared pool.
    const pooled = Buffer.from('pooled');
    const pooledBack = roundTrip(pooled);
    expect(Buffer.isBuffer(pooledBack)).toBe(true);
    expect(pooledBack.toString()).toBe('pooled');
    expect(pooledBack.length).toBe(6);
  });

  it('brings an empty Buffer back as a Buffer', () => {
    const back = roundTrip(Buffer.alloc(0));
    expect(Buffer.isBuffer(back)).toBe(true);
    expect(back.length).toBe(0);
  });

  it('brings a Uint8Array back as a Uint8Array, not a Buffer; also a subarray', () => {
    const back = roundTrip(new Uint8Array([1, 2, 3]));
    expect(back).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(back)).toBe(false);
    expect([...back]).toEqual([1, 2, 3]);
    const sub = roundTrip(new Uint8Array([1, 2, 3, 4, 5]).subarray(1, 3));
    expect([...sub]).toEqual([2, 3]);
  });

  it('keeps a Float64Array, -0 and NaN included', () => {
    const back = roundTrip(new Float64Array([1.5, -0, NaN, Infinity]));
    expect(back).toBeInstanceOf(Float64Array);
    expect(back).toHaveLength(4);
    expect(back[0]).toBe(1.5);
    expect(Object.is(back[1], -0)).toBe(true);
    expect(Number.isNaN(back[2])).toBe(true);
    expect(back[3]).toBe(Infinity);
  });

  it('keeps nested arrays and objects', () => {
    const value = { a: [1, { b: [2, [3, [4]]] }], c: { d: { e: 'f', g: [] as unknown[] } }, h: {} };
    expect(roundTrip(value)).toStrictEqual(value);
  });

  it('keeps holes in sparse arrays, also very sparse ones', () => {
    // eslint-disable-next-line no-sparse-arrays
    const back = roundTrip([1, , 3]);
    expect(back).toHaveLength(3);
    expect(1 in back).toBe(false);
    expect(back[2]).toBe(3);
    const far: string[] = [];
    far[1000] = 'x';
    const farBack = roundTrip(far);
    expect(farBack).toHaveLength(1001);
    expect(Object.keys(farBack)).toEqual(['1000']);
  });

  it('keeps shared references and cycles as identities', () => {
    const shared = { n: 1 };
    const back = roundTrip({ x: shared, y: [shared] });
    expect(back.x).toBe(back.y[0]);
    type Cyclic = { name: string; self?: Cyclic; list: unknown[] };
    const cyclic: Cyclic = { name: 'loop', list: [] };
    cyclic.self = cyclic;
    cyclic.list.push(cyclic);
    const loop = roundTrip(cyclic);
    expect(loop.self).toBe(loop);
    expect(loop.list[0]).toBe(loop);
    expect(loop.name).toBe('loop');
  });

  it('keeps a RegExp with its flags', () => {
    const back = roundTrip(/a+\/b[0-9]*/gimsu);
    expect(back).toBeInstanceOf(RegExp);
    expect(back.source).toBe('a+\\/b[0-9]*');
    expect(back.flags).toBe('gimsu');
    expect(back.test('aa/b12')).toBe(true);
  });
});

describe('devalueSerializer refuses values it cannot store', () => {
  class Foo {
    readonly x = 1;
  }

  it.each([
    ['a function', () => 1],
    ['a symbol', Symbol('s')],
    ['an object with a symbol key', { [Symbol('k')]: 1 }],
    ['an instance of a user class', new Foo()],
    ['a WeakMap', new WeakMap()],
    ['a Promise', Promise.resolve(1)],
  ])('throws SerializationError for %s at the top level, saying what to do', (_what, value) => {
    const error = encodeError(value);
    expect(error.name).toBe('SerializationError');
    expect(typeof error.path).toBe('string');
    expect(error.path).not.toBe('');
    expect(error.message).toMatch(/serializer/);
    expect(error.message).toContain(error.path!);
  });

  it('names the path of a function nested at {a: {b: [fn]}}', () => {
    const error = encodeError({ a: { b: [function hidden() {}] } });
    expect(error.path).toMatch(/a\W+b\W+0/);
    expect(error.message).toContain(error.path!);
    expect(error.message).toMatch(/function/);
  });

  it('names the path of a symbol value inside an object', () => {
    expect(encodeError({ outer: { sym: Symbol('x') } }).path).toMatch(/outer\W+sym/);
  });

  it('names the class of a user class instance nested in an array', () => {
    const error = encodeError({ list: [1, new Foo()] });
    expect(error.path).toMatch(/list\W+1/);
    expect(error.message).toContain('Foo');
  });

  it('names a function stored as a Map value', () => {
    const error = encodeError(new Map([['k', () => 1]]));
    expect(error.path).toContain('k');
  });
});

describe.each(allTargets)('stored values [$name]', (t) => {
  const rich = () => {
    const key = { k: 1 };
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    return {
      text: 'héllo 🌍 NUL \u0000 lone \ud800',
      negZero: -0,
      nan: NaN,
      infinities: [Infinity, -Infinity],
      nothing: undefined,
      nil: null,
      yes: true,
      when: new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)),
      map: new Map<unknown, unknown>([
        [key, 'object key'],
        ['s', 1],
      ]),
      set: new Set(['a', 1]),
      big: 2n ** 100n + 1n,
      bytes: Buffer.from([0, 1, 2, 253, 254, 255]),
      u8: new Uint8Array([9, 8, 7]),
      floats: new Float64Array([0.5, -0]),
      re: /x+y/g,
      // eslint-disable-next-line no-sparse-arrays
      sparse: [1, , 3],
      nested: { deep: [[1], { two: 2 }] },
      cyclic,
    };
  };
  type Rich = ReturnType<typeof rich>;

  it(`reads a rich value back through a new PersistentDict on the same group [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('ser');
    const first = new PersistentDict<string, Rich>(group, target);
    let second: PersistentDict<string, Rich> | undefined;
    try {
      await first.set('rich', rich());
      // A memory database dies with its last user: keep the first store open there.
      if (t.name !== 'sqlite-memory') await first.shutdown();
      second = new PersistentDict<string, Rich>(group, target);
      const back = await second.get('rich');
      const { cyclic: _cyclic, ...plain } = rich();
      const { cyclic: cyclicBack, ...plainBack } = back;
      expect(plainBack).toEqual(plain);
      expect(cyclicBack.self).toBe(cyclicBack);
      expect(Object.is(back.negZero, -0)).toBe(true);
      expect(Number.isNaN(back.nan)).toBe(true);
      expect('nothing' in back).toBe(true);
      expect(back.when).toBeInstanceOf(Date);
      expect(back.when.getTime()).toBe(plain.when.getTime());
      expect(Buffer.isBuffer(back.bytes)).toBe(true);
      expect(back.bytes.equals(plain.bytes)).toBe(true);
      expect(Buffer.isBuffer(back.u8)).toBe(false);
      expect(back.u8).toBeInstanceOf(Uint8Array);
      expect(back.map).toBeInstanceOf(Map);
      expect([...back.map.keys()][0]).toEqual({ k: 1 });
      expect(back.map.get('s')).toBe(1);
      expect(back.big).toBe(2n ** 100n + 1n);
      expect(back.text).toBe(plain.text);
      expect(1 in back.sparse).toBe(false);
      expect(back.re.flags).toBe('g');
    } finally {
      await second?.shutdown();
      await first.shutdown();
    }
  });

  it(`rejects an unstorable value with SerializationError; cache, changes and table unchanged [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('ser');
    const dict = new PersistentDict<string, unknown>(group, target);
    const sql = new AccessBroker(target);
    let fresh: PersistentDict<string, unknown> | undefined;
    try {
      await dict.set('kept', 'old');
      const changes: Change<string, unknown>[] = [];
      const subscription = dict.changes$.subscribe((c) => changes.push(c));
      const bad = { a: { b: [() => 1] } };
      const error = await dict.set('bad', bad).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SerializationError);
      expect((error as SerializationError).path).toMatch(/a\W+b/);
      await expect(dict.set('kept', Symbol('no'))).rejects.toBeInstanceOf(SerializationError);
      subscription.unsubscribe();
      expect(changes).toEqual([]);
      await dict.flush();
      expect(await storedCount(sql, group)).toBe(1);
      expect(await dict.get('kept')).toBe('old');
      await expect(dict.get('bad')).rejects.toBeInstanceOf(MissingKeyError);
      expect(await dict.has('bad')).toBe(false);
      fresh = new PersistentDict<string, unknown>(group, target);
      expect(await fresh.get('kept')).toBe('old');
      await expect(fresh.get('bad')).rejects.toBeInstanceOf(MissingKeyError);
    } finally {
      await fresh?.shutdown();
      await dict.shutdown();
      await sql.shutdown();
    }
  });

  it(`uses a custom serializer given as an option, for writing and for reading [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('ser');
    let encoded = 0;
    let decoded = 0;
    const prefixed: Serializer = {
      encode: (value) => (encoded++, `json:${JSON.stringify(value)}`),
      decode: (text) => {
        decoded++;
        if (!text.startsWith('json:')) throw new Error(`not prefixed: ${text}`);
        return JSON.parse(text.slice(5)) as unknown;
      },
    };
    const dict = new PersistentDict<string, unknown>(group, target, { serializer: prefixed });
    const sql = new AccessBroker(target);
    const readers: PersistentDict<string, unknown>[] = [];
    try {
      await dict.set('k', { a: [1, 2], s: 'x' });
      expect(encoded).toBeGreaterThanOrEqual(1);
      expect(await storedRows(sql, group)).toEqual(new Map([['k', 'json:{"a":[1,2],"s":"x"}']]));
      const reader = new PersistentDict<string, unknown>(group, target, { serializer: prefixed });
      readers.push(reader);
      expect(await reader.get('k')).toEqual({ a: [1, 2], s: 'x' });
      expect(decoded).toBeGreaterThanOrEqual(1);
      // The default serializer cannot read it: proof that the text is the custom one's.
      const stranger = new PersistentDict<string, unknown>(group, target);
      readers.push(stranger);
      await expect(stranger.get('k')).rejects.toBeInstanceOf(SerializationError);
    } finally {
      await Promise.all(readers.map((r) => r.shutdown()));
      await dict.shutdown();
      await sql.shutdown();
    }
  });
});

/** `depth` objects nested in each other: `{ a: { a: … } }`. */
function nested(depth: number): unknown {
  let value: unknown = 'bottom';
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}

describe('devalueSerializer turns every failure into SerializationError', () => {
  it('a getter that throws, with the error as cause', () => {
    const boom = new Error('getter exploded');
    const value = {
      list: [
        1,
        {
          get bad() {
            throw boom;
          },
        },
      ],
    };
    const error = encodeError(value);
    expect(error.message).toMatch(/getter exploded/);
    expect(error.cause).toBe(boom);
  });

  it('200,000-deep nesting (a stack overflow while encoding)', () => {
    const error = encodeError(nested(200_000));
    expect(error.message).toMatch(/cannot store/);
    expect(error.cause).toBeInstanceOf(RangeError);
  });

  it('text that cannot be decoded: garbage, and 200,000-deep nesting', () => {
    const deep = `[${Array.from({ length: 200_000 }, (_, i) => `{"a":${i + 1}}`).join(',')},"bottom"]`;
    for (const text of ['not devalue', '[', deep]) {
      expect(() => devalueSerializer.decode(text)).toThrow(SerializationError);
    }
  });
});

describe.each(allTargets)('a value that fails while encoding [$name]', (t) => {
  it(`is refused with SerializationError by set(), update() and Items; nothing is written [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('ser');
    const dict = new PersistentDict<string, unknown>(group, target);
    const items = new Items<string, unknown>(group, target);
    const sql = new AccessBroker(target);
    const throwing = {
      get x() {
        throw new TypeError('no x today');
      },
    };
    // A custom serializer's own failure is one too.
    const custom = new PersistentDict<string, unknown>(group, target, {
      serializer: { encode: () => JSON.parse('{') as string, decode: (text) => text },
    });
    try {
      await dict.set('kept', 'old');
      for (const bad of [throwing, nested(200_000)]) {
        await expect(dict.set('bad', bad)).rejects.toBeInstanceOf(SerializationError);
        await expect(dict.update({ fine: 1, bad })).rejects.toBeInstanceOf(SerializationError);
        await expect(items.insert('bad', bad)).rejects.toBeInstanceOf(SerializationError);
      }
      await expect(custom.set('bad', 1)).rejects.toBeInstanceOf(SerializationError);
      await dict.flush();
      await custom.flush();
      expect(await storedCount(sql, group)).toBe(1);
      expect(await dict.get('fine', 'none')).toBe('none');
      expect(await dict.get('bad', 'none')).toBe('none');
    } finally {
      await custom.shutdown();
      await items.shutdown();
      await dict.shutdown();
      await sql.shutdown();
    }
  });
});
