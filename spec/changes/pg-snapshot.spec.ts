import { covers, finishedUpTo, parseSnapshot, visibleIn } from '../../lib/changes/pg-snapshot';

const s = (text: string) => parseSnapshot(text)!;

describe('postgres snapshots as the change log reads them', () => {
  it('parses pg_current_snapshot() text, and refuses what is none', () => {
    expect(s('10:15:11,13')).toEqual({ xmin: 10n, xmax: 15n, xip: new Set([11n, 13n]) });
    expect(s('10:10:')).toEqual({ xmin: 10n, xmax: 10n, xip: new Set() });
    for (const bad of [undefined, '', '10:15', 'a:b:', '10:15:x', '1:2:3;DROP']) {
      expect(parseSnapshot(bad)).toBeUndefined();
    }
  });

  it('a transaction is finished below xmin, and below xmax unless listed', () => {
    const snap = s('10:15:11,13');
    expect([9n, 10n, 11n, 12n, 13n, 14n, 15n].map((x) => visibleIn(x, snap))).toEqual([
      true,
      true,
      false,
      true,
      false,
      true,
      false,
    ]);
  });

  it('a later snapshot covers an earlier one unless it lists one the earlier saw finished', () => {
    expect(covers(s('11:16:13'), s('10:15:11,13'))).toBe(true);
    expect(covers(s('10:16:11,13'), s('10:15:11,13'))).toBe(true);
    expect(covers(s('10:14:11,13'), s('10:15:11,13'))).toBe(false);
    expect(covers(s('10:16:12'), s('10:15:11,13'))).toBe(false);
  });

  it('all up to an xid finished: none listed at or below it, and below xmax', () => {
    expect(finishedUpTo(9n, s('10:15:11,13'))).toBe(true);
    expect(finishedUpTo(10n, s('10:15:11,13'))).toBe(true);
    expect(finishedUpTo(11n, s('10:15:11,13'))).toBe(false);
    expect(finishedUpTo(14n, s('14:20:'))).toBe(true);
    expect(finishedUpTo(20n, s('14:20:'))).toBe(false);
  });
});
