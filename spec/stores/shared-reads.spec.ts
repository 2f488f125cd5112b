import { PersistentDict } from '../../lib';
import { remoteSettled } from '../../lib/stores/cached-store';
import { loggedOptions, queryLog } from '../support/brokers';
import { nextChange } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';

describe.each(allTargets)('stores on one group share their re-reads [$name]', (t) => {
  it(`ten dicts of a group hearing another store's write make one SELECT, and all see it [${t.name}]`, async () => {
    const log = queryLog();
    // Its own DataSource (a logged one) so that only these stores' queries count.
    const options = loggedOptions(t.target(), log);
    const group = uniqueName('g');
    const writer = new PersistentDict<string, number>(group, options);
    const dicts = Array.from({ length: 10 }, () => new PersistentDict<string, number>(group, options));
    try {
      await writer.update({ a: 1, b: 2 });
      for (const d of dicts)
        expect(await d.loadAll()).toEqual(
          new Map([
            ['a', 1],
            ['b', 2],
          ]),
        );
      await Promise.all(dicts.map((d) => within(d[remoteSettled](), 'a dict settles')));
      const keyReads = () =>
        log.queries.filter((q) => /FROM sasync_items WHERE group_id = \S+ AND name IN/.test(q)).length;
      const before = keyReads();
      const seen = dicts.map((d) => nextChange(d.changes$, (c) => c.key === 'a' && c.value === 10));
      await writer.update({ a: 10 });
      for (const [i, change] of seen.entries()) {
        expect(await within(change, `dict ${i} sees a = 10`)).toMatchObject({
          type: 'set',
          previous: 1,
          origin: 'remote',
        });
      }
      expect(keyReads() - before).toBe(1);
      // A dict that shuts down does not fail the others' shared read.
      const [gone, ...rest] = dicts;
      const again = rest.map((d) => nextChange(d.changes$, (c) => c.key === 'b' && c.value === 20));
      const closing = gone!.shutdown();
      await writer.set('b', 20);
      await closing;
      for (const change of again) await within(change, 'b = 20');
      for (const d of rest) expect(await d.get('b')).toBe(20);
    } finally {
      await Promise.all([writer, ...dicts].map((d) => d.shutdown()));
    }
  });
});
