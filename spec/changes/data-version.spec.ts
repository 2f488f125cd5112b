import { lastValueFrom } from 'rxjs';
import { devalueSerializer, PersistentDict, type Change } from '../../lib';
import { pollDataVersion } from '../../lib/changes/data-version';
import type { ReadRows } from '../../lib/changes/log-dialect';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { RawSql } from '../support/stores';
import { until, within } from '../support/streams';
import { sqliteFile, uniqueName } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

/** A connection of its own to the sqlite file `target` names (an options object is a DataSource of its own). */
function otherConnection(target: string): RawSql {
  return new RawSql({ type: 'sqlite', database: target.slice('sqlite:'.length) });
}

/** A value and its entry, committed by another connection (as another process's store writes them). */
async function otherWrites(other: RawSql, group: string, value: string): Promise<void> {
  await lastValueFrom(
    other.broker.transact(async (tx) => {
      await tx.query(`UPDATE ${ITEMS_TABLE.name} SET value = ? WHERE group_id = ? AND name = 'a'`, [
        devalueSerializer.encode(value),
        group,
      ]);
      await tx.query(`INSERT INTO sasync_changes (kind, grp, name, op, at) VALUES (?, ?, 'a', 'set', 0)`, [
        ITEMS_TABLE.name,
        group,
      ]);
    }),
    { defaultValue: undefined },
  );
}

/** Real round trips on `raw`: what a timer would have started by now has run. */
async function roundTrips(raw: RawSql): Promise<void> {
  for (let i = 0; i < 5; i++) await raw.query('SELECT 1 AS one');
}

/**
 * A sqlite file's change log reader notices other connections' commits by
 * `PRAGMA data_version`, read every `pollInterval` ms of sasync's clock,
 * and only while a store listens. On the virtual clock: no poll before the
 * interval, one at it, a wake-up only when another connection committed.
 */
describe('data_version polling [sqlite-file]', () => {
  const vc = useVirtualClock();

  it('polls once per interval, says so only when another connection committed, and stops when told', async () => {
    const target = sqliteFile.target();
    const poller = new RawSql(target);
    const other = otherConnection(target);
    try {
      await poller.query('CREATE TABLE t (x INTEGER)');
      await other.query('SELECT 1 AS one');
      let polls = 0;
      let changes = 0;
      const read: ReadRows = (s) => {
        polls++;
        return poller.query(s.sql, s.parameters as unknown[]);
      };
      const base = vc.current.pending();
      const stop = pollDataVersion(
        () => read,
        50,
        () => changes++,
      );
      // The poll's query answered and the next one scheduled.
      const polled = (n: number) => until(() => polls === n && vc.current.pending() === base + 1, `poll ${n}`);
      await vc.current.advance(49);
      expect(polls).toBe(0);
      await vc.current.advance(1);
      await polled(1);
      // The first poll has nothing to compare with: it wakes the reader (a commit may have come before it).
      expect(changes).toBe(1);
      // Nobody committed: the counter stays.
      await vc.current.advance(50);
      await polled(2);
      expect(changes).toBe(1);
      await other.query('INSERT INTO t (x) VALUES (1)');
      await vc.current.advance(49);
      await roundTrips(poller);
      expect(polls).toBe(2);
      await vc.current.advance(1);
      await polled(3);
      expect(changes).toBe(2);
      // Its own connection's commits do not move it.
      await poller.query('INSERT INTO t (x) VALUES (2)');
      await vc.current.advance(50);
      await polled(4);
      expect(changes).toBe(2);
      stop();
      expect(vc.current.pending()).toBe(base);
      await vc.current.advance(500);
      expect(polls).toBe(4);
    } finally {
      await poller.shutdown();
      await other.shutdown();
    }
  });

  it('runs only while a store listens: another connection’s commit is heard at the interval, no timer after shutdown', async () => {
    const target = sqliteFile.target();
    const group = uniqueName('g');
    const other = otherConnection(target);
    const base = vc.current.pending();
    const dict = new PersistentDict<string, string>(group, target, { changeLog: { pollInterval: 50 } });
    try {
      await dict.set('a', 'A');
      await dict.loadAll();
      expect(vc.current.pending()).toBeGreaterThan(base);
      const seen: Change<string, string>[] = [];
      const sub = dict.changes$.subscribe((c) => seen.push(c));
      // Committed by another connection after the reader's first read and before the first poll.
      await otherWrites(other, group, 'A2');
      await vc.current.advance(50);
      await until(() => seen.length === 1, 'the change heard at the first poll');
      // Later: heard at the next poll, an interval after the last, not before.
      await otherWrites(other, group, 'A3');
      await vc.current.advance(49);
      await roundTrips(other);
      expect(seen.length).toBe(1);
      await vc.current.advance(1);
      await until(() => seen.length === 2, 'the change heard at the next poll');
      sub.unsubscribe();
      expect(seen.map((c) => [c.type, c.key, c.value, c.origin])).toEqual([
        ['set', 'a', 'A2', 'remote'],
        ['set', 'a', 'A3', 'remote'],
      ]);
    } finally {
      await within(dict.shutdown(), 'shutdown');
      await other.shutdown();
    }
    // Nobody listens: no poll timer left.
    expect(vc.current.pending()).toBe(base);
  });
});
