import { devalueSerializer, PersistentArray, PersistentDict, type Change } from '../../lib';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { remoteSettled } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { nextChange, RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, uniqueName } from '../support/targets';
import { ownLog } from './log-targets';

const T = CHANGES_TABLE.name;

/**
 * The log is written by anyone who can write the database: an entry is a
 * hint of what to read again, never data. Entries of unknown groups, kinds
 * or operations, names that are no key, and marks that cannot be read
 * leave every store reporting what the table holds; the log dropped under
 * a reader is a 'resync', and it goes on.
 */
describe.each(allTargets)('hostile and broken change logs [$name]', (t) => {
  let target: Awaited<ReturnType<typeof ownLog>>['target'];
  let drop: () => Promise<void>;
  let raw: RawSql;
  let group: string;
  let dict: PersistentDict<string, string>;
  let grid: PersistentArray<string>;
  let seen: Change<unknown, string>[];
  let unsubscribe: () => void;

  beforeEach(async () => {
    ({ target, drop } = await ownLog(t));
    raw = new RawSql(target);
    group = uniqueName('g');
    dict = new PersistentDict(group, target);
    grid = new PersistentArray(group, target);
    await dict.update({ a: 'A', b: 'B' });
    await grid.set(1, 2, 3, 'cell');
    await dict.loadAll();
    await within(dict[remoteSettled](), 'dict settles');
    seen = [];
    const subs = [dict.changes$.subscribe((c) => seen.push(c)), grid.changes$.subscribe((c) => seen.push(c))];
    unsubscribe = () => subs.forEach((s) => s.unsubscribe());
  });

  afterEach(async () => {
    unsubscribe();
    await dict.shutdown();
    await grid.shutdown();
    await raw.shutdown();
    await drop();
  });

  async function forge(rows: [kind: string, grp: string, name: string | null, op: string, origin: string | null][]) {
    // On postgres with the writing transaction's id, as sasync writes them (a NULL xid is never read).
    const xid = raw.dialect === 'postgres' ? 'pg_current_xact_id()::text::bigint' : 'NULL';
    for (const row of rows) {
      await raw.query(`INSERT INTO ${T} (xid, kind, grp, name, op, origin, at) VALUES (${xid}, ?, ?, ?, ?, ?, 0)`, row);
    }
    await within(dict[remoteSettled](), 'dict reads the log');
    await within(grid[remoteSettled](), 'grid reads the log');
  }

  async function expectTruth(): Promise<void> {
    const rows = await raw.items(group);
    const table = new Map([...rows].map(([k, v]) => [k, devalueSerializer.decode(v) as string]));
    expect(await dict.loadAll()).toEqual(table);
    expect(await grid.get(1, 2, 3)).toBe('cell');
  }

  it(`entries of unknown groups, kinds and ops, odd names and forged origins report nothing false [${t.name}]`, async () => {
    await forge([
      [ITEMS_TABLE.name, `${group}-other`, 'a', 'clear', null],
      ['no_such_table', group, 'a', 'delete', null],
      [ITEMS_TABLE.name, group, 'a', 'delete', null],
      [ITEMS_TABLE.name, group, 'ghost', 'set', null],
      [ITEMS_TABLE.name, group, null, 'set', null],
      [ITEMS_TABLE.name, group, 'b', 'bogus', 'x'.repeat(64)],
      [ITEMS_TABLE.name, group, '', 'clear', ''],
      ['sasync_array', group, 'not json', 'set', null],
      ['sasync_array', group, '["1","2"]', 'delete', null],
      ['sasync_array', group, '[1,2,3]', 'delete', null],
      ['sasync_array', group, null, 'clear', null],
      [ITEMS_TABLE.name, group, '["a","ghost","b"]', 'keys', null],
      [ITEMS_TABLE.name, group, 'not json', 'keys', null],
      [ITEMS_TABLE.name, group, '[1,{"x":2},null]', 'keys', null],
      [ITEMS_TABLE.name, group, '{"a":1}', 'keys', null],
      [ITEMS_TABLE.name, group, null, 'keys', null],
      ['sasync_array', group, '["[1,2,3]","nope"]', 'keys', null],
    ]);
    // The table did not change: nothing to report.
    expect(seen).toEqual([]);
    await expectTruth();
  });

  it(`a retention mark that cannot be read is a resync, never a crash [${t.name}]`, async () => {
    await forge([[T, '', 'garbage', 'pruned', null]]);
    expect(seen.map((c) => [c.type, c.reason])).toEqual([
      ['resync', 'retention'],
      ['resync', 'retention'],
    ]);
    await expectTruth();
  });

  it(`the log dropped under a reader: a 'resync', the table made again, later changes delivered [${t.name}]`, async () => {
    // Watched before anything moves: on a sqlite file the poll may wake the reader during the writes below.
    const resynced = nextChange(dict.changes$, (c) => c.type === 'resync');
    const a2 = nextChange(dict.changes$, (c) => c.key === 'a' && c.value === 'A2');
    await raw.query(`DROP TABLE ${T}`);
    // Written directly while the log is gone: only a resync can tell the reader.
    await raw.query(`UPDATE ${ITEMS_TABLE.name} SET value = ? WHERE group_id = ? AND name = 'a'`, [
      devalueSerializer.encode('A2'),
      group,
    ]);
    // A wake-up, as another process's write sends (a DROP sends none; on a sqlite file data_version moves).
    if (raw.dialect === 'postgres') await raw.query(`SELECT pg_notify(?, '')`, [T]);
    await within(dict[remoteSettled](), 'dict reads the log again', 20_000);
    expect(await within(resynced, 'the resync')).toMatchObject({ origin: 'remote' });
    expect(['log-unreadable', 'log-lost']).toContain((await resynced).reason);
    await within(a2, 'the change made while the log was gone');
    // The log is back: another store's write reaches the dict again.
    const other = new PersistentDict<string, string>(group, target);
    try {
      const b2 = nextChange(dict.changes$, (c) => c.key === 'b' && c.value === 'B2');
      await other.set('b', 'B2');
      await within(b2, 'a later change');
    } finally {
      await other.shutdown();
    }
    await expectTruth();
  }, 40_000);

  it(`the log emptied under a reader (TRUNCATE; on sqlite its sequence reset too): a 'log-lost' resync [${t.name}]`, async () => {
    // Watched before anything moves: on a sqlite file the poll may wake the reader during the writes below.
    const resynced = nextChange(dict.changes$, (c) => c.type === 'resync');
    const a2 = nextChange(dict.changes$, (c) => c.key === 'a' && c.value === 'A2');
    const b2 = nextChange(dict.changes$, (c) => c.key === 'b' && c.value === 'B2');
    // Written directly, with no log entry, just before the log goes: only a resync can tell the reader. (Written
    // after the TRUNCATE, a reader woken in between, by a late notice, resynced before it and never saw it.)
    await raw.query(`UPDATE ${ITEMS_TABLE.name} SET value = ? WHERE group_id = ? AND name = 'a'`, [
      devalueSerializer.encode('A2'),
      group,
    ]);
    if (raw.dialect === 'postgres') await raw.query(`TRUNCATE ${T}`);
    else {
      await raw.query(`DELETE FROM ${T}`);
      await raw.query(`DELETE FROM sqlite_sequence WHERE name = ?`, [T]);
    }
    // Another store's write wakes the reader, which finds the log emptied.
    const other = new PersistentDict<string, string>(group, target);
    try {
      await other.set('b', 'B2');
      expect(await within(resynced, 'the resync')).toMatchObject({ origin: 'remote', reason: 'log-lost' });
      await within(a2, 'the change made while the log was emptied');
      await within(b2, 'the write that woke the reader');
      const b3 = nextChange(dict.changes$, (c) => c.key === 'b' && c.value === 'B3');
      await other.set('b', 'B3');
      await within(b3, 'a later change, read from the new position');
    } finally {
      await other.shutdown();
    }
    // Once for each store (the dict and the grid), not again after.
    expect(seen.filter((c) => c.type === 'resync').map((c) => c.reason)).toEqual(['log-lost', 'log-lost']);
    await within(dict[remoteSettled](), 'dict settles');
    await expectTruth();
  });
});
