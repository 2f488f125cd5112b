import { PersistentDict, type Change } from '../../lib';
import { boundedEntries, entryKeys, MAX_ENTRIES_PER_WRITE } from '../../lib/changes/entry';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { remoteSettled } from '../../lib/stores/cached-store';
import { RawSql } from '../support/stores';
import { until, within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

describe('the entries a write appends', () => {
  it("one 'keys' entry for several keys set or deleted, the others as they are", () => {
    expect(
      boundedEntries([
        { name: null, op: 'clear' },
        { name: 'a', op: 'set' },
        { name: 'b', op: 'delete' },
      ]),
    ).toEqual([
      { name: null, op: 'clear' },
      { name: '["a","b"]', op: 'keys' },
    ]);
    const one = [{ name: 'a', op: 'set' } as const];
    expect(boundedEntries(one)).toBe(one);
    const many = Array.from({ length: MAX_ENTRIES_PER_WRITE + 1 }, (_, i) => ({ name: `k${i}`, op: 'set' as const }));
    expect(boundedEntries(many)).toEqual([{ name: null, op: 'all' }]);
  });

  it("reads a 'keys' entry's keys back, and refuses what is not a JSON array of strings", () => {
    expect(entryKeys('["a","b\\"c"]')).toEqual(['a', 'b"c']);
    for (const bad of [null, '', 'a', '{"a":1}', '[1]', '["a",null]']) expect(entryKeys(bad)).toBeUndefined();
  });
});

describe.each(allTargets)('a write of many keys in the change log [$name]', (t) => {
  it(`appends one row for the batch, and another store hears each key [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const a = new PersistentDict<string, number>(group, target);
    const b = new PersistentDict<string, number>(group, target);
    const raw = new RawSql(target);
    try {
      await a.set('gone', 0);
      expect(await b.loadAll()).toEqual(new Map([['gone', 0]]));
      await within(b[remoteSettled](), 'b catches up');
      const rowsBefore = await raw.query<{ n: number | string }>(
        `SELECT count(*) AS n FROM ${CHANGES_TABLE.name} WHERE grp = ?`,
        [group],
      );
      const seen: Change<string, number>[] = [];
      const sub = b.changes$.subscribe((c) => seen.push(c));
      const keys = Array.from({ length: 100 }, (_, i) => `k${i}`);
      await a.update(Object.fromEntries(keys.map((k, i) => [k, i])));
      await a.delete('gone');
      await until(() => seen.length >= 101, 'b hears both writes');
      sub.unsubscribe();
      const rows = await raw.query<{ op: string; name: string }>(
        `SELECT op, name FROM ${CHANGES_TABLE.name} WHERE grp = ? ORDER BY id`,
        [group],
      );
      // One row per write: the update's keys in one, the single delete as before.
      const added = rows.slice(Number(rowsBefore[0]!.n));
      expect(added.map((r) => r.op)).toEqual(['keys', 'delete']);
      expect(JSON.parse(added[0]!.name)).toEqual(keys);
      expect(seen.filter((c) => c.type === 'set').map((c) => [c.key, c.value])).toEqual(keys.map((k, i) => [k, i]));
      expect(seen.filter((c) => c.type === 'delete').map((c) => [c.key, c.origin])).toEqual([['gone', 'remote']]);
      expect(await b.loadAll()).toEqual(await a.loadAll());
    } finally {
      await a.shutdown();
      await b.shutdown();
      await raw.shutdown();
    }
  });
});
