import { lastValueFrom } from 'rxjs';
import { devalueSerializer, PersistentDict, type Change } from '../../lib';
import { changeLogOf } from '../../lib/changes/change-log';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { CATCH_UP_MAX_FAILURES, RETRY_MAX_MS, RETRY_MS } from '../../lib/changes/reader';
import { ChangeLogUnreadableError } from '../../lib/errors';
import { remoteSettled } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { nextChange, RawSql } from '../support/stores';
import { until, within } from '../support/streams';
import { allTargets, fileAndPg, ph } from '../support/targets';
import { uniqueName } from '../support/targets';
import { installVirtualClock } from '../support/virtual-clock';
import { ownLog } from './log-targets';

const T = CHANGES_TABLE.name;

/** What `dict` emits from now on, and a way to stop recording. */
function record(dict: PersistentDict<string, string>): { seen: Change<string, string>[]; stop(): void } {
  const seen: Change<string, string>[] = [];
  const sub = dict.changes$.subscribe((c) => seen.push(c));
  return { seen, stop: () => sub.unsubscribe() };
}

/**
 * Someone dropped the log table: a store's next write makes it again and
 * succeeds (its user's data does not fail for want of sasync's bookkeeping;
 * readers find the log made again and resync), and its entry is in the new log.
 */
describe.each(allTargets)('a write with the change log dropped [$name]', (t) => {
  it(`makes the log table again and succeeds, its entry logged [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const dict = new PersistentDict<string, string>(group, target);
    const raw = new RawSql(target);
    try {
      await dict.set('a', 'A');
      await raw.query(`DROP TABLE ${T}`);
      await within(dict.set('b', 'B'), 'the write');
      expect(await raw.items(group)).toEqual(
        new Map([
          ['a', devalueSerializer.encode('A')],
          ['b', devalueSerializer.encode('B')],
        ]),
      );
      const logged = await raw.query<{ name: string; grp: string }>(`SELECT name, grp FROM ${T} WHERE grp = ?`, [
        group,
      ]);
      expect(logged).toEqual([{ name: 'b', grp: group }]);
    } finally {
      await dict.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});

/**
 * VACUUM FULL (or CLUSTER) gives the log table a new file but keeps the
 * table and its rows: nothing was lost, so no resync; TRUNCATE (new file,
 * rows gone) still is a 'log-lost' resync (hostile.spec).
 */
describe.each(fileAndPg.filter((t) => t.dialect === 'postgres'))('the log rewritten [$name]', (t) => {
  it(`VACUUM FULL of the log is no resync; later changes are delivered [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, target);
    const writer = new PersistentDict<string, string>(group, target);
    const raw = new RawSql(target);
    try {
      await writer.update({ a: 'A', b: 'B' });
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader settles');
      const file = () => raw.query<{ f: string }>(`SELECT pg_relation_filenode('${T}')::text AS f`);
      const before = (await file())[0]!.f;
      const { seen, stop } = record(reader);
      await raw.query(`VACUUM FULL ${T}`);
      expect((await file())[0]!.f).not.toBe(before);
      const a2 = nextChange(reader.changes$, (c) => c.key === 'a' && c.value === 'A2');
      await writer.set('a', 'A2');
      await within(a2, 'the change after the rewrite');
      await within(reader[remoteSettled](), 'the reader settles again');
      stop();
      expect(seen.map((c) => [c.type, c.key, c.value])).toEqual([['set', 'a', 'A2']]);
    } finally {
      await reader.shutdown();
      await writer.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});

/**
 * Someone ran `DELETE FROM sasync_changes`: entries the reader had not read
 * are gone with no retention mark saying so. sqlite (the sequence kept): the
 * ids after its position no longer follow on. postgres: the entry its
 * position saw newest is gone, and no retention mark came after it. A
 * 'log-lost' resync.
 */
describe.each(allTargets)('log rows deleted by someone [$name]', (t) => {
  it(`unread entries deleted without a mark: a 'log-lost' resync, the change found [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const reader = new PersistentDict<string, string>(group, target);
    const writer = new PersistentDict<string, string>(group, target);
    const raw = new RawSql(target);
    try {
      await writer.update({ a: 'A', b: 'B' });
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader settles');
      const p = (n: number) => ph(t.dialect, n);
      const xid = t.dialect === 'postgres' ? 'pg_current_xact_id()::text::bigint' : 'NULL';
      // One transaction: a change and its entry, then every entry deleted. The reader never sees the entry.
      await lastValueFrom(
        raw.broker.transact(async (tx) => {
          await tx.query(`UPDATE ${ITEMS_TABLE.name} SET value = ${p(1)} WHERE group_id = ${p(2)} AND name = 'a'`, [
            devalueSerializer.encode('A2'),
            group,
          ]);
          await tx.query(
            `INSERT INTO ${T} (xid, kind, grp, name, op, origin, at) VALUES (${xid}, ${p(1)}, ${p(2)}, 'a', 'set', NULL, 0)`,
            [ITEMS_TABLE.name, group],
          );
          await tx.query(`DELETE FROM ${T}`);
        }),
        { defaultValue: undefined },
      );
      const resynced = nextChange(reader.changes$, (c) => c.type === 'resync');
      const a2 = nextChange(reader.changes$, (c) => c.key === 'a' && c.value === 'A2');
      const b2 = nextChange(reader.changes$, (c) => c.key === 'b' && c.value === 'B2');
      // A later write wakes the reader: its entry's id does not follow the position's (sqlite), the
      // position's newest entry is gone (postgres).
      await writer.set('b', 'B2');
      expect(await within(resynced, 'the resync')).toMatchObject({ reason: 'log-lost', origin: 'remote' });
      await within(a2, 'the change whose entry was deleted');
      await within(b2, 'the later write');
    } finally {
      await reader.shutdown();
      await writer.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});

/**
 * caughtUp() while every read fails (the log's columns renamed: making
 * the table again cannot help): it waits for the reader's own retries, on
 * their backoff, instead of reading again itself, and gives up with
 * ChangeLogUnreadableError after CATCH_UP_MAX_FAILURES reads. On the
 * virtual clock: no read happens before a backoff has passed.
 */
describe.each(fileAndPg)('catching up with a log that cannot be read [$name]', (t) => {
  it(`backs off and gives up with ChangeLogUnreadableError [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    // No data_version polls meanwhile: the reads counted are the retries alone.
    const dict = new PersistentDict<string, string>(group, target, { changeLog: { pollInterval: 1e9 } });
    const raw = new RawSql(target);
    let vc: ReturnType<typeof installVirtualClock> | undefined;
    try {
      await dict.set('a', 'A');
      await within(dict[remoteSettled](), 'the dict settles');
      const log = changeLogOf(await raw.bus(), () => {
        throw new Error('the dict opened the log already');
      });
      const { reader } = log;
      await raw.query(`ALTER TABLE ${T} RENAME COLUMN op TO op_renamed`);
      // An entry to read (sqlite reads the table only once its sequence moved).
      await raw.query(`INSERT INTO ${T} (kind, grp, op_renamed, at) VALUES ('x', 'x', 'set', 0)`);
      vc = installVirtualClock();
      const before = reader.reads;
      let failed: unknown;
      const done = reader.caughtUp().catch((error: unknown) => (failed = error));
      // The first read fails, and the reader waits for its backoff.
      await until(() => reader.retrying, 'the first read failed');
      expect(reader.reads).toBe(before + 1);
      await vc.advance(RETRY_MS - 1);
      // Real round trips meanwhile: a read caughtUp started itself would have run by now.
      for (let i = 0; i < 5; i++) await raw.query('SELECT 1 AS one');
      expect(reader.reads).toBe(before + 1);
      for (let i = 0; i < 3 * CATCH_UP_MAX_FAILURES && failed === undefined; i++) {
        const reads = reader.reads;
        await vc.advance(RETRY_MAX_MS);
        await until(() => failed !== undefined || (reader.reads > reads && reader.retrying), 'the next retry');
      }
      await within(done, 'caughtUp');
      expect(failed).toBeInstanceOf(ChangeLogUnreadableError);
      expect((failed as ChangeLogUnreadableError).attempts).toBe(CATCH_UP_MAX_FAILURES);
      expect(reader.reads - before).toBeLessThanOrEqual(CATCH_UP_MAX_FAILURES);
    } finally {
      vc?.uninstall();
      await raw.query(`ALTER TABLE ${T} RENAME COLUMN op_renamed TO op`).catch(() => undefined);
      await dict.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});
