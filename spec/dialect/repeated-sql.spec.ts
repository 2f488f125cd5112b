import fc from 'fast-check';
import { RepeatedSql } from '../../lib/dialect/repeated-sql';

/** The model: kept SQL in an array, least recently used first. */
class Model {
  kept: [string, number][] = [];
  constructor(readonly limit: number) {}
  get(sql: string): number | undefined {
    const i = this.kept.findIndex(([k]) => k === sql);
    if (i < 0) return undefined;
    const [entry] = this.kept.splice(i, 1);
    this.kept.push(entry!);
    return entry![1];
  }
  keep(sql: string, value: number): number | undefined {
    const i = this.kept.findIndex(([k]) => k === sql);
    let given: number | undefined;
    if (i >= 0) this.kept.splice(i, 1);
    else if (this.kept.length >= this.limit) given = this.kept.shift()![1];
    this.kept.push([sql, value]);
    return given;
  }
  delete(sql: string, only?: number): number | undefined {
    const i = this.kept.findIndex(([k]) => k === sql);
    if (i < 0) return undefined;
    if (only !== undefined && this.kept[i]![1] !== only) return undefined;
    return this.kept.splice(i, 1)[0]![1];
  }
}

type Op =
  | { readonly op: 'get'; readonly sql: string }
  | { readonly op: 'keep'; readonly sql: string; readonly value: number }
  | { readonly op: 'delete'; readonly sql: string; readonly only?: number };

const sqlArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('get' as const), sql: sqlArb }),
  fc.record({ op: fc.constant('keep' as const), sql: sqlArb, value: fc.nat(20) }),
  fc.record({ op: fc.constant('delete' as const), sql: sqlArb, only: fc.option(fc.nat(20), { nil: undefined }) }),
);

describe('RepeatedSql', () => {
  it('keeps SQL on its second sight only, and forgets what it saw once when it has seen too much', () => {
    const cache = new RepeatedSql<number>(2);
    expect(cache.repeats('x')).toBe(false);
    expect(cache.repeats('x')).toBe(true);
    expect(cache.repeats('x')).toBe(false);
    for (const sql of ['1', '2', '3', '4', '5', '6', '7', '8']) cache.repeats(sql);
    // 'x' was seen once, then 8 more: past 4 × limit, the seen set was cleared.
    expect(cache.repeats('x')).toBe(false);
  });

  it('gives up the least recently used value, counting a get as a use', () => {
    const cache = new RepeatedSql<number>(2);
    expect(cache.keep('a', 1)).toBeUndefined();
    expect(cache.keep('b', 2)).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.keep('c', 3)).toBe(2);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.keep('a', 4)).toBeUndefined();
    expect(cache.get('a')).toBe(4);
    expect(cache.size).toBe(2);
    expect(cache.delete('c', 9)).toBeUndefined();
    expect(cache.delete('c', 3)).toBe(3);
    expect(cache.takeAll()).toEqual([4]);
    expect(cache.size).toBe(0);
  });

  it('answers as a least-recently-used list would, for random programs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(opArb, { maxLength: 60 }), (limit, ops) => {
        const cache = new RepeatedSql<number>(limit);
        const model = new Model(limit);
        for (const o of ops) {
          if (o.op === 'get') expect(cache.get(o.sql)).toBe(model.get(o.sql));
          else if (o.op === 'keep') expect(cache.keep(o.sql, o.value)).toBe(model.keep(o.sql, o.value));
          else expect(cache.delete(o.sql, o.only)).toBe(model.delete(o.sql, o.only));
          expect(cache.size).toBe(model.kept.length);
        }
        expect(cache.takeAll().sort()).toEqual(model.kept.map(([, v]) => v).sort());
      }),
    );
  });
});
