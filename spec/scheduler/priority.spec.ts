import {
  checkPriority,
  compareKeys,
  Lane,
  MAX_NICENESS,
  MIN_NICENESS,
  queueKey,
  type PriorityOptions,
} from '../../lib/scheduler/priority';

const ALL_NICENESS = Array.from({ length: MAX_NICENESS - MIN_NICENESS + 1 }, (_, i) => MIN_NICENESS + i);

/** AsynQueue's formula, written out independently of the code under test. */
function expectedPriority(serial: number, niceness: number): number {
  return serial * (1 + ((niceness + 20) / 10) ** 2);
}

function sortsBefore(a: ReturnType<typeof queueKey>, b: ReturnType<typeof queueKey>): boolean {
  return compareKeys(a, b) < 0;
}

describe('checkPriority', () => {
  it.each([21, -21, 1.5, NaN, Infinity, -Infinity])(
    'throws RangeError naming the range -20..20 for niceness %p',
    (n) => {
      expect(() => checkPriority({ niceness: n })).toThrow(RangeError);
      expect(() => checkPriority({ niceness: n })).toThrow(/integer from -20 .*to 20/);
      expect(() => checkPriority({ niceness: n })).toThrow(`not ${String(n)}`);
    },
  );

  it('throws RangeError for a niceness given as a string, and says it was a string', () => {
    const options = { niceness: '5' } as unknown as PriorityOptions;
    expect(() => checkPriority(options)).toThrow(RangeError);
    expect(() => checkPriority(options)).toThrow(/-20 .*20.*'5' \(a string\)/);
  });

  it('throws RangeError when doNext and doLast are both set, telling the caller to choose one', () => {
    expect(() => checkPriority({ doNext: true, doLast: true })).toThrow(RangeError);
    expect(() => checkPriority({ doNext: true, doLast: true })).toThrow(/doNext and doLast.*choose one/);
  });

  it.each([-20, 0, 20])('accepts niceness %p', (n) => {
    expect(() => checkPriority({ niceness: n })).not.toThrow();
  });

  it('accepts no options, empty options, doNext alone and doLast alone', () => {
    expect(() => checkPriority(undefined)).not.toThrow();
    expect(() => checkPriority({})).not.toThrow();
    expect(() => checkPriority({ doNext: true, niceness: 3 })).not.toThrow();
    expect(() => checkPriority({ doLast: true })).not.toThrow();
    expect(() => checkPriority({ doNext: false, doLast: true })).not.toThrow();
  });
});

describe('queueKey', () => {
  it('computes AsynQueue priority serial × (1 + ((niceness + 20) / 10)²) for every niceness', () => {
    for (const serial of [1, 2, 7, 1000, 123457]) {
      for (const n of ALL_NICENESS) {
        const key = queueKey(serial, { niceness: n });
        expect(key.lane).toBe(Lane.Normal);
        expect(key.serial).toBe(serial);
        expect(key.priority).toBeCloseTo(expectedPriority(serial, n), 9);
      }
    }
  });

  it('gives niceness -20 a factor of 1, niceness 0 a factor of 5 and niceness 20 a factor of 17', () => {
    expect(queueKey(10, { niceness: -20 }).priority).toBe(10);
    expect(queueKey(10, { niceness: 0 }).priority).toBe(50);
    expect(queueKey(10, { niceness: 20 }).priority).toBe(170);
  });

  it('defaults to niceness 0', () => {
    expect(queueKey(3)).toEqual(queueKey(3, { niceness: 0 }));
    expect(queueKey(3, {})).toEqual(queueKey(3, { niceness: 0 }));
  });

  it('puts doNext and doLast in their own lanes whatever the niceness', () => {
    expect(queueKey(5, { doNext: true, niceness: 20 }).lane).toBe(Lane.Next);
    expect(queueKey(5, { doLast: true, niceness: -20 }).lane).toBe(Lane.Last);
  });
});

describe('compareKeys', () => {
  it('is FIFO at equal niceness', () => {
    for (const n of ALL_NICENESS) {
      for (const s of [1, 2, 50, 999]) {
        expect(sortsBefore(queueKey(s, { niceness: n }), queueKey(s + 1, { niceness: n }))).toBe(true);
        expect(sortsBefore(queueKey(s + 1, { niceness: n }), queueKey(s, { niceness: n }))).toBe(false);
      }
    }
  });

  it('is FIFO among doNext tasks and among doLast tasks', () => {
    expect(sortsBefore(queueKey(4, { doNext: true }), queueKey(5, { doNext: true }))).toBe(true);
    expect(sortsBefore(queueKey(5, { doNext: true }), queueKey(4, { doNext: true }))).toBe(false);
    expect(sortsBefore(queueKey(4, { doLast: true }), queueKey(5, { doLast: true }))).toBe(true);
    expect(sortsBefore(queueKey(5, { doLast: true }), queueKey(4, { doLast: true }))).toBe(false);
  });

  it('runs doNext before niceness -20, even one submitted much later', () => {
    expect(sortsBefore(queueKey(1_000_000, { doNext: true }), queueKey(1, { niceness: -20 }))).toBe(true);
    expect(sortsBefore(queueKey(1, { niceness: -20 }), queueKey(1_000_000, { doNext: true }))).toBe(false);
  });

  it('runs doLast after niceness 20, even one submitted much earlier', () => {
    expect(sortsBefore(queueKey(1_000_000, { niceness: 20 }), queueKey(1, { doLast: true }))).toBe(true);
    expect(sortsBefore(queueKey(1, { doLast: true }), queueKey(1_000_000, { niceness: 20 }))).toBe(false);
  });

  it('runs a less nice task first when both were submitted at about the same time', () => {
    expect(sortsBefore(queueKey(11, { niceness: -5 }), queueKey(10, { niceness: 5 }))).toBe(true);
    // 11 × 4.61 = 50.71 against 10 × 5.41 = 54.1
    expect(sortsBefore(queueKey(11, { niceness: -1 }), queueKey(10, { niceness: 1 }))).toBe(true);
  });

  it('never starves: a niceness-20 task at serial s sorts before every task submitted at serial > 25·s', () => {
    const serials = [1, 2, 3, 5, 8, 13, 99, 100, 1234, 65_537, 1_000_003];
    for (let s = 1; s <= 400; s++) serials.push(s);
    const violations: string[] = [];
    let checked = 0;
    for (const s of serials) {
      const nice = queueKey(s, { niceness: 20 });
      for (const t of [25 * s + 1, 25 * s + 2, 26 * s, 100 * s + 7]) {
        for (const n of ALL_NICENESS) {
          const later = queueKey(t, { niceness: n });
          checked++;
          if (!sortsBefore(nice, later) || sortsBefore(later, nice)) violations.push(`s=${s} t=${t} niceness=${n}`);
        }
      }
    }
    expect(checked).toBeGreaterThan(60_000);
    expect(violations).toEqual([]);
  });

  it('has a tight bound: a niceness-20 task at serial s sorts before every task submitted at serial ≥ 17·s', () => {
    const violations: string[] = [];
    for (let s = 1; s <= 2000; s++) {
      const nice = queueKey(s, { niceness: 20 });
      for (const n of ALL_NICENESS) {
        if (!sortsBefore(nice, queueKey(17 * s, { niceness: n }))) violations.push(`s=${s} niceness=${n}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('lets a niceness -20 task submitted a little later overtake a niceness-20 task (the bound is not vacuous)', () => {
    for (const s of [1, 2, 10, 1000]) {
      const nice = queueKey(s, { niceness: 20 });
      const urgent = queueKey(17 * s - 1, { niceness: -20 });
      expect(17 * s - 1).toBeGreaterThan(s);
      expect(sortsBefore(urgent, nice)).toBe(true);
    }
  });

  it('orders a mixed set: doNext, then by priority, then doLast', () => {
    const submissions: [string, PriorityOptions][] = [
      ['b', { niceness: 10 }],
      ['c', { niceness: -10 }],
      ['d', { doLast: true }],
      ['e', { doNext: true }],
      ['f', {}],
      ['g', { niceness: 20 }],
      ['h', { niceness: -20 }],
      ['i', { doNext: true }],
      ['j', { doLast: true }],
    ];
    const keyed = submissions.map(([name, options], i) => ({ name, key: queueKey(i + 1, options) }));
    keyed.sort((a, b) => compareKeys(a.key, b.key));
    // priorities: b 2·10=20, c 3·2=6, f 6·5=30, g 7·17=119, h 8·1=8
    expect(keyed.map((k) => k.name).join('')).toBe('eichbfgdj');
  });
});
