import fc from 'fast-check';
import { compareCodePoints, compareSqlite } from '../../../lib/dialect/sqlite/sqlite-order';

const sign = (n: number) => Math.sign(n);

describe('sqlite order (BINARY collation)', () => {
  it('orders text as its UTF-8 bytes, for any well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(sign(compareCodePoints(a, b))).toBe(sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
    );
  });

  it('puts an emoji after U+FF5E, where JavaScript puts it before', () => {
    expect('\u{1F600}' < '\uFF5E').toBe(true);
    expect(compareSqlite('\uFF5E', '\u{1F600}')).toBeLessThan(0);
  });

  it('orders NULL, then numbers by value, then text, then blobs', () => {
    const ordered = [null, -1, 2n, 2.5, 3, '', '1', 'a', Buffer.alloc(0), Buffer.from([0]), Buffer.from([1])];
    for (let i = 0; i < ordered.length; i++) {
      for (let j = 0; j < ordered.length; j++) {
        expect([ordered[i], ordered[j], sign(compareSqlite(ordered[i], ordered[j]))]).toEqual([
          ordered[i],
          ordered[j],
          sign(i - j),
        ]);
      }
    }
  });
});
