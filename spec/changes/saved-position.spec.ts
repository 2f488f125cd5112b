import { devalueSerializer, PersistentArray, PersistentDict, type Change } from '../../lib';
import { parseSavedPosition, savedPosition } from '../../lib/changes/saved-position';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { READ_LIMIT } from '../../lib/changes/reader';
import { pruneNow } from '../../lib/stores/cached-store';
import { ITEMS_TABLE } from '../../lib/stores/tables';
import { RawSql } from '../support/stores';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { lastValueFrom, type Observable } from 'rxjs';
import { within } from '../support/streams';
import { fileAndPg, ph, sqliteMemory, uniqueName } from '../support/targets';
import { ownLog } from './log-targets';

/** A child process that sets `w-0` … `w-(N-1)` of a dict, then exits. */
const WRITER = path.join(__dirname, 'fixtures', 'log-writer.ts');
const N = 20;

describe('saved change log positions', () => {
  it('round-trip, for either dialect', () => {
    const pg = {
      xid: 7n,
      id: 42n,
      snapshot: '100:105:101,103',
      upto: '100:106:',
      file: '16400',
      table: '16390',
      newest: '104:42',
    };
    expect(parseSavedPosition(savedPosition('postgres', pg), 'postgres')).toEqual(pg);
    expect(parseSavedPosition(savedPosition('sqlite', { xid: 0n, id: 12n }), 'sqlite')).toEqual({ xid: 0n, id: 12n });
  });

  it.each([
    ['not a string', 12],
    ['empty', ''],
    ['no position', 'garbage'],
    ['a damaged body', 'sasync-position:1:%%%'],
    ['a body that is no JSON object', `sasync-position:1:${Buffer.from('[1]').toString('base64url')}`],
    ['a postgres position without a snapshot', body({ d: 'postgres', x: '0', i: '0' })],
    ['a bad snapshot', body({ d: 'postgres', x: '0', i: '0', s: 'x:y:' })],
    ['a negative id', body({ d: 'sqlite', x: '0', i: '-1' })],
    ['a sqlite position with postgres fields', body({ d: 'sqlite', x: '0', i: '1', s: '1:2:' })],
    ['an unknown dialect', body({ d: 'mysql', x: '0', i: '1' })],
  ])('refuses %s with a TypeError saying what a position is', (_, since) => {
    expect(() => parseSavedPosition(since, 'sqlite')).toThrow(TypeError);
    expect(() => parseSavedPosition(since, 'sqlite')).toThrow(/position\(\)/);
  });

  it('refuses the other dialect’s position with a RangeError, at construction, before any connection', () => {
    const pg = savedPosition('postgres', { xid: 0n, id: 0n, snapshot: '5:5:' });
    expect(() => new PersistentDict('g', sqliteMemory.target(), { since: pg })).toThrow(RangeError);
    expect(() => new PersistentArray('g', sqliteMemory.target(), { since: 'nope' })).toThrow(TypeError);
    expect(() => new PersistentDict('g', sqliteMemory.target(), { since: 5 as unknown as string })).toThrow(TypeError);
  });
});

/** Every value `values` emits from now until unsubscribe(). */
function recorder<T>(values: Observable<T>): { seen: T[]; unsubscribe(): void } {
  const seen: T[] = [];
  const subscription = values.subscribe((v) => seen.push(v));
  return { seen, unsubscribe: () => subscription.unsubscribe() };
}

function body(fields: Record<string, string>): string {
  return `sasync-position:1:${Buffer.from(JSON.stringify(fields)).toString('base64url')}`;
}

/**
 * A store started with `since` (a position saved by an earlier store, in a
 * process that then went away) is told, as remote changes, what other
 * stores committed after it; values are read from the table. Without it,
 * nothing of the past is reported. Stores here share no DataSource in
 * time: each one is shut down (its DataSource closed) before the next
 * opens, as across process restarts; one case keeps a writer open, so that
 * the starting store joins a reader already reading.
 */
describe.each(fileAndPg)('starting from a saved position [$name]', (t) => {
  let target: string;
  let drop: () => Promise<void>;
  let group: string;

  beforeEach(async () => {
    ({ target, drop } = await ownLog(t));
    group = uniqueName('g');
  });
  afterEach(() => drop());

  /** A store that listened, saved its position, and stopped. */
  async function saved(): Promise<string> {
    const first = new PersistentDict<string, string>(group, target);
    try {
      await first.update({ kept: 'K', gone: 'G', changed: 'C1' });
      await first.flush();
      return await first.position();
    } finally {
      await first.shutdown();
    }
  }

  /** Another store's writes while nobody listens (the writer is a store: its entries are logged). */
  async function meanwhile(keepOpen = false, options = {}): Promise<PersistentDict<string, string>> {
    const writer = new PersistentDict<string, string>(group, target, options);
    await writer.set('changed', 'C2');
    await writer.set('added', 'A');
    await writer.delete('gone');
    await writer.flush();
    if (!keepOpen) await writer.shutdown();
    return writer;
  }

  const remote = (seen: Change<string, string>[]) =>
    seen
      .map((c) => [c.type, c.key, c.value, c.origin] as const)
      .sort((a, b) => String(a[1]).localeCompare(String(b[1])));

  it.each([
    ['a fresh reader', false],
    ['a reader already reading (another store open)', true],
  ])(`delivers every change committed after the position, as remote changes (%s) [${t.name}]`, async (_, open) => {
    const since = await saved();
    const writer = await meanwhile(open);
    const again = new PersistentDict<string, string>(group, target, { since });
    const { seen, unsubscribe } = recorder(again.changes$);
    try {
      const next = await within(again.position(), 'the catch-up');
      expect(remote(seen)).toEqual([
        ['set', 'added', 'A', 'remote'],
        ['set', 'changed', 'C2', 'remote'],
        ['delete', 'gone', undefined, 'remote'],
      ]);
      // Its own new position: started from it, nothing more to tell.
      const third = new PersistentDict<string, string>(group, target, { since: next });
      const later = recorder(third.changes$);
      await within(third.position(), 'the second catch-up');
      expect(later.seen).toEqual([]);
      later.unsubscribe();
      await third.shutdown();
    } finally {
      unsubscribe();
      await again.shutdown();
      if (open) await writer.shutdown();
    }
  });

  it(`without since, the past is not reported (today's behaviour) [${t.name}]`, async () => {
    await saved();
    await meanwhile();
    const fresh = new PersistentDict<string, string>(group, target);
    const { seen, unsubscribe } = recorder(fresh.changes$);
    try {
      await within(fresh.position(), 'the first read');
      expect(seen).toEqual([]);
      expect(await fresh.get('changed')).toBe('C2');
    } finally {
      unsubscribe();
      await fresh.shutdown();
    }
  });

  it(`a position whose entries were pruned since: a 'retention' resync, then every key found [${t.name}]`, async () => {
    const since = await saved();
    const writer = await meanwhile(true, { changeLog: { maxCount: 1 } });
    expect(await writer[pruneNow]()).toBeGreaterThan(0);
    await writer.shutdown();
    const again = new PersistentDict<string, string>(group, target, { since });
    const { seen, unsubscribe } = recorder(again.changes$);
    try {
      await within(again.position(), 'the catch-up');
      expect(seen[0]).toMatchObject({ type: 'resync', reason: 'retention', origin: 'remote' });
      // Memory knew nothing: everything the table holds is news.
      expect(remote(seen.slice(1))).toEqual([
        ['set', 'added', 'A', 'remote'],
        ['set', 'changed', 'C2', 'remote'],
        ['set', 'kept', 'K', 'remote'],
      ]);
    } finally {
      unsubscribe();
      await again.shutdown();
    }
  });

  it(`changes another process made while none listened here: every one delivered [${t.name}]`, async () => {
    const since = await saved();
    // A real process: its own DataSource and connections, started and gone while nothing here was open.
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, target, group, String(N)]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await within(new Promise<number | null>((resolve) => child.on('exit', resolve)), 'the writer', 30_000);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const again = new PersistentDict<string, number>(group, target, { since });
    const { seen, unsubscribe } = recorder(again.changes$);
    try {
      await within(again.position(), 'the catch-up');
      const sets = seen.filter((c) => c.type === 'set' && c.origin === 'remote').map((c) => [c.key, c.value]);
      expect(new Map(sets as [string, number][])).toEqual(new Map(Array.from({ length: N }, (_, i) => [`w-${i}`, i])));
      expect(seen.length).toBe(N);
    } finally {
      unsubscribe();
      await again.shutdown();
    }
  }, 40_000);

  it(`a catch-up longer than one read's limit is read in pages, to the last [${t.name}]`, async () => {
    const since = await saved();
    const raw = new RawSql(target);
    // READ_LIMIT entries that name one key, then the entries of `tail` keys: only a second page tells them.
    const tail = Array.from({ length: 150 }, (_, i) => `p${i}`);
    const named = [...Array.from({ length: READ_LIMIT }, () => 'filler'), ...tail];
    try {
      const xid = raw.dialect === 'postgres' ? 'pg_current_xact_id()::text::bigint' : 'NULL';
      const p = (n: number) => ph(raw.dialect, n);
      await lastValueFrom(
        raw.broker.transact(async (tx) => {
          for (const [i, key] of ['filler', ...tail].entries()) {
            await tx.query(
              `INSERT INTO ${ITEMS_TABLE.name} (group_id, name, value) VALUES (${p(1)}, ${p(2)}, ${p(3)})`,
              [group, key, devalueSerializer.encode(i)],
            );
          }
          for (let i = 0; i < named.length; i += 250) {
            const some = named.slice(i, i + 250);
            const rows = some.map(
              (_, j) => `(${xid}, '${ITEMS_TABLE.name}', ${p(2 * j + 1)}, ${p(2 * j + 2)}, 'set', 0)`,
            );
            await tx.query(
              `INSERT INTO ${CHANGES_TABLE.name} (xid, kind, grp, name, op, at) VALUES ${rows.join(', ')}`,
              some.flatMap((k) => [group, k]),
            );
          }
        }),
        { defaultValue: undefined },
      );
    } finally {
      await raw.shutdown();
    }
    const again = new PersistentDict<string, number>(group, target, { since });
    const { seen, unsubscribe } = recorder(again.changes$);
    try {
      await within(again.position(), 'the catch-up', 30_000);
      const told = seen.filter((c) => c.type === 'set').map((c) => c.key);
      expect(told.sort()).toEqual(['filler', ...tail].sort());
    } finally {
      unsubscribe();
      await again.shutdown();
    }
  }, 60_000);

  it(`a PersistentArray too [${t.name}]`, async () => {
    const grid = new PersistentArray<string>(group, target);
    await grid.set(1, 2, 3, 'old');
    await grid.set(0, 0, 0, 'stays');
    await grid.flush();
    const since = await grid.position();
    await grid.shutdown();
    const writer = new PersistentArray<string>(group, target);
    await writer.set(1, 2, 3, 'new');
    await writer.set(4, 5, null, 'added');
    await writer.flush();
    await writer.shutdown();
    const again = new PersistentArray<string>(group, target, { since });
    const { seen, unsubscribe } = recorder(again.changes$);
    try {
      await within(again.position(), 'the catch-up');
      expect(seen.map((c) => [c.type, c.key, c.value, c.origin])).toEqual(
        expect.arrayContaining([
          ['set', [1, 2, 3], 'new', 'remote'],
          ['set', [4, 5, null], 'added', 'remote'],
        ]),
      );
      expect(seen.length).toBe(2);
    } finally {
      unsubscribe();
      await again.shutdown();
    }
  });
});
