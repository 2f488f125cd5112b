import { PersistentArray, type Change, type Coordinates } from '../../lib';
import { remoteSettled } from '../../lib/stores/cached-store';
import { nextChange } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

/** PersistentArray hears other stores' writes of its group from the change log, as a dict does. */
describe.each(allTargets)('PersistentArray remote changes [$name]', (t) => {
  it(`a set, delete and clear in one array reach another on the group as remote changes [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const a = new PersistentArray<string>(group, target);
    const b = new PersistentArray<string>(group, target);
    try {
      await a.set(0, 'x', null, 'one');
      expect(await b.get(0, 'x', null)).toBe('one');
      await within(b[remoteSettled](), 'b catches up');
      const seen: Change<Coordinates, string>[] = [];
      const sub = b.changes$.subscribe((c) => seen.push(c));
      const two = nextChange(b.changes$, (c) => c.value === 'two');
      await a.set(0, 'x', null, 'two');
      await within(two, 'b sees two');
      const deleted = nextChange(b.changes$, (c) => c.type === 'delete');
      await a.delete(0, 'x', null);
      await within(deleted, 'b sees the delete');
      const other = nextChange(b.changes$, (c) => c.value === 'other');
      await a.set(5, 6, 7, 'other');
      await within(other, 'b sees a new place');
      const cleared = nextChange(b.changes$, (c) => c.type === 'clear');
      await a.clear();
      await within(cleared, 'b sees the clear');
      sub.unsubscribe();
      expect(seen.map((c) => [c.type, c.key, c.value, c.previous, c.origin])).toEqual([
        ['set', [0, 'x', null], 'two', 'one', 'remote'],
        ['delete', [0, 'x', null], undefined, 'two', 'remote'],
        ['set', [5, 6, 7], 'other', undefined, 'remote'],
        ['clear', undefined, undefined, undefined, 'remote'],
      ]);
      expect(await b.get(5, 6, 7)).toBeUndefined();
    } finally {
      await a.shutdown();
      await b.shutdown();
    }
  });
});
