import { lastValueFrom } from 'rxjs';
import { devalueSerializer, PersistentArray, PersistentDict, type Change } from '../../lib';
import { appendStatement } from '../../lib/changes/log-sql';
import { postgresLog } from '../../lib/changes/postgres-log';
import { prune } from '../../lib/changes/retention';
import { sqliteLog } from '../../lib/changes/sqlite-log';
import { pruneNow, remoteSettled } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, fileAndPg, ph, sqliteMemory, uniqueName } from '../support/targets';
import { ownLog } from './log-targets';

describe('change log retention settings', () => {
  it.each([
    [{ maxAge: 0 }],
    [{ maxAge: -5 }],
    [{ maxAge: Number.NaN }],
    [{ maxAge: Infinity }],
    [{ maxAge: '1000' as unknown as number }],
    [{ maxCount: 0 }],
    [{ maxCount: 1.5 }],
    [{ maxCount: -1 }],
    [{ maxCount: 2 ** 60 }],
    [{ pollInterval: 0 }],
    [{ pollInterval: Number.NaN }],
  ])('refuses %j with a RangeError at construction, before any connection', (changeLog) => {
    expect(() => new PersistentDict('g', sqliteMemory.target(), { changeLog })).toThrow(RangeError);
    expect(() => new PersistentArray('g', sqliteMemory.target(), { changeLog })).toThrow(RangeError);
  });

  it('takes sensible values', async () => {
    const d = new PersistentDict('g', sqliteMemory.target(), {
      changeLog: { maxAge: 1, maxCount: 1, pollInterval: 1 },
    });
    await d.shutdown();
  });
});

/**
 * A reader whose unread entries were pruned (it was stopped, or behind,
 * longer than the retention) reads everything it holds again, and says so
 * with a 'resync' change before the differences it finds.
 */
describe.each(fileAndPg)('a reader behind the retention horizon [$name]', (t) => {
  it(`resyncs and says so: a 'resync' change, then what changed meanwhile [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, target);
    const raw = new RawSql(target);
    try {
      await reader.update({ k: 'old', gone: 'old' });
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader catches up');
      const seen: Change<string, string>[] = [];
      const sub = reader.changes$.subscribe((c) => seen.push(c));
      const dialect = raw.dialect === 'postgres' ? postgresLog : sqliteLog;
      const p = (n: number) => ph(raw.dialect, n);
      const now = Date.now();
      // Another writer's changes, and a prune that removes them before the reader read them.
      await lastValueFrom(
        raw.broker.transact(async (tx) => {
          const query = async <T>(s: { sql: string; parameters: unknown[] }) =>
            (await tx.query(s.sql, s.parameters)) as T[];
          await tx.query(`UPDATE ${ITEMS_TABLE.name} SET value = ${p(1)} WHERE group_id = ${p(2)} AND name = 'k'`, [
            devalueSerializer.encode('new'),
            group,
          ]);
          await tx.query(`DELETE FROM ${ITEMS_TABLE.name} WHERE group_id = ${p(1)} AND name = 'gone'`, [group]);
          const meta = { kind: ITEMS_TABLE.name, grp: group, origin: null, at: now };
          await query(
            appendStatement(dialect, p, meta, [
              { name: 'k', op: 'set' },
              { name: 'gone', op: 'delete' },
            ]),
          );
          // Keeps one entry: the 'gone' delete survives, the 'k' set does not.
          const removed = await prune(query, dialect, p, { maxAge: 86_400_000, maxCount: 1 }, now);
          expect(removed).toBeGreaterThan(0);
        }),
        { defaultValue: undefined },
      );
      await within(reader[remoteSettled](), 'the reader reads the log');
      sub.unsubscribe();
      expect(seen[0]).toMatchObject({ type: 'resync', reason: 'retention', origin: 'remote' });
      const rest = seen.slice(1).map((c) => [c.type, c.key, c.value, c.origin]);
      expect(rest).toEqual(
        expect.arrayContaining([
          ['set', 'k', 'new', 'remote'],
          ['delete', 'gone', undefined, 'remote'],
        ]),
      );
      expect(rest.length).toBe(2);
      expect(await reader.loadAll()).toEqual(new Map([['k', 'new']]));
    } finally {
      await reader.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});

describe.each(allTargets)('pruning the change log [$name]', (t) => {
  it(`keeps the newest maxCount entries and marks the horizon; a reader at the head does not resync [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const writer = new PersistentDict<string, number>(group, target, { changeLog: { maxCount: 3 } });
    const reader = new PersistentDict<string, number>(group, target);
    const raw = new RawSql(target);
    try {
      await reader.loadAll();
      const seen: Change<string, number>[] = [];
      const sub = reader.changes$.subscribe((c) => seen.push(c));
      for (let i = 0; i < 10; i++) await writer.set(`k${i}`, i);
      await within(reader[remoteSettled](), 'the reader reads the log');
      const before = await raw.query<{ n: number | string }>('SELECT count(*) AS n FROM sasync_changes');
      expect(Number(before[0]!.n)).toBeGreaterThanOrEqual(10);
      const removed = await writer[pruneNow]();
      expect(removed).toBe(Number(before[0]!.n) - 3);
      const after = await raw.query<{ op: string; name: string | null }>(
        'SELECT op, name FROM sasync_changes ORDER BY id',
      );
      expect(after.map((r) => r.op)).toEqual(['set', 'set', 'set', 'pruned']);
      await within(reader[remoteSettled](), 'the reader reads the mark');
      sub.unsubscribe();
      // It had read everything the prune removed: no resync.
      expect(seen.filter((c) => c.type === 'resync')).toEqual([]);
      // Every key once; across keys the order is not promised (re-reads of two reads may finish out of order).
      expect(seen.map((c) => c.key).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `k${i}`).sort());
    } finally {
      await writer.shutdown();
      await reader.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});
