import { LiveQueryError } from '../../lib';
import { diffRows, rowKey } from '../../lib/live/diff';

type Row = { id: number; name: string; at?: Date };

describe('diffRows: what a live query emits', () => {
  const byId = rowKey<Row>('id');

  it('the first result: every row added', () => {
    const rows = [{ id: 1, name: 'a' }];
    expect(diffRows(undefined, rows, byId, '"id"', 'q')).toEqual({ added: rows, removed: [], changed: [] });
  });

  it('the same rows in the same order: nothing to emit (dates and bigints compared by value)', () => {
    const a = [{ id: 1, name: 'a', at: new Date(5) }];
    const b = [{ id: 1, name: 'a', at: new Date(5) }];
    expect(diffRows(a, b, byId, '"id"', 'q')).toBeUndefined();
    expect(diffRows([{ n: 5n }], [{ n: 5n }], undefined, '', 'q')).toBeUndefined();
    expect(diffRows([{ n: 5n }], [{ n: 6n }], undefined, '', 'q')).toBeDefined();
  });

  it('added, removed and changed by key', () => {
    const before = [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
      { id: 3, name: 'c' },
    ];
    const after = [
      { id: 1, name: 'a' },
      { id: 3, name: 'C' },
      { id: 4, name: 'd' },
    ];
    expect(diffRows(before, after, byId, '"id"', 'q')).toEqual({
      added: [{ id: 4, name: 'd' }],
      removed: [{ id: 2, name: 'b' }],
      changed: [{ before: { id: 3, name: 'c' }, after: { id: 3, name: 'C' } }],
    });
  });

  it('a key of 1 and of "1" are different keys; a key function may give a composite', () => {
    const k = rowKey<{ a: unknown; b: unknown }>((r) => [r.a, r.b]);
    const d = diffRows([{ a: 1, b: 'x' }], [{ a: '1', b: 'x' }], k, 'function', 'q');
    expect(d).toEqual({ added: [{ a: '1', b: 'x' }], removed: [{ a: 1, b: 'x' }], changed: [] });
  });

  it('only the order changed: emitted (the rows differ), with an empty diff', () => {
    const a = [
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ];
    expect(diffRows(a, [a[1]!, a[0]!], byId, '"id"', 'q')).toEqual({ added: [], removed: [], changed: [] });
  });

  it('without a key: rows by content, the same row twice allowed, a changed row is removed + added', () => {
    const d = diffRows([{ v: 1 }, { v: 1 }], [{ v: 1 }, { v: 2 }], undefined, '', 'q');
    expect(d).toEqual({ added: [{ v: 2 }], removed: [{ v: 1 }], changed: [] });
  });

  it('a key that is not unique in the result: LiveQueryError naming it and the value', () => {
    const rows = [
      { id: 7, name: 'a' },
      { id: 7, name: 'b' },
    ];
    let caught: unknown;
    try {
      diffRows(undefined, rows, byId, '"id"', 'SELECT 1');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LiveQueryError);
    expect(caught).toMatchObject({ problem: 'duplicate-key', sql: 'SELECT 1' });
    expect((caught as Error).message).toMatch(/key "id" is not unique in the result \(7 appears twice\)/);
  });
});
