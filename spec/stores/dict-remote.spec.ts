import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { VirtualTimeScheduler } from 'rxjs';
import { PersistentDict, resolveTarget, type Change, type DatabaseTarget } from '../../lib';
import { remoteSettled } from '../../lib/stores/cached-store';
import { busState, listening, nextChange, RawSql } from '../support/stores';
import { within } from '../support/streams';
import { allTargets, PG_URL, pgAvailable, uniqueName } from '../support/targets';

const WRITER = path.join(__dirname, 'fixtures', 'dict-remote-writer.ts');

/** Another process sets (or deletes) one key of a group and exits. */
async function writeFromAnotherProcess(target: string, group: string, key: string, value: unknown): Promise<void> {
  const arg = value === 'delete' ? 'delete' : JSON.stringify(value);
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', WRITER, target, group, key, arg]);
  expect(stdout).toContain('written');
}

describe.each(allTargets)('PersistentDict changes between stores in one process [$name]', (t) => {
  it(`a set, delete and clear in one dict reach another on the group as remote changes [${t.name}]`, async () => {
    const target = t.target();
    const group = uniqueName('g');
    const a = new PersistentDict<string, unknown>(group, target);
    const b = new PersistentDict<string, unknown>(group, target);
    const raw = new RawSql(target);
    try {
      await a.set('k', 'one');
      expect(await b.get('k')).toBe('one');
      // b hears notices from here on, and has done re-reading what it knew
      // when it began to listen: that re-read, landing after the delete
      // below, would find the group empty and report a clear.
      await listening(await raw.bus());
      await b[remoteSettled]();
      const seen: Change<string, unknown>[] = [];
      const sub = b.changes$.subscribe((c) => seen.push(c));
      const watched: unknown[] = [];
      const watch = b.watch('k').subscribe((v) => watched.push(v));
      const two = nextChange(b.changes$, (c) => c.key === 'k' && c.value === 'two');
      await a.set('k', 'two');
      await within(two, 'b sees two');
      expect(await b.get('k')).toBe('two');
      const deleted = nextChange(b.changes$, (c) => c.type === 'delete');
      await a.delete('k');
      await within(deleted, 'b sees the delete');
      const x = nextChange(b.changes$, (c) => c.key === 'x');
      await a.set('x', 1);
      // b reads x when it hears of it: after the clear it would find nothing to report.
      await within(x, 'b sees x');
      const cleared = nextChange(b.changes$, (c) => c.type === 'clear');
      await a.clear();
      await within(cleared, 'b sees the clear');
      sub.unsubscribe();
      watch.unsubscribe();
      expect(watched).toEqual(['one', 'two', undefined]);
      expect(seen.every((c) => c.origin === 'remote')).toBe(true);
      expect(seen.map((c) => c.type)).toEqual(['set', 'delete', 'set', 'clear']);
      expect(seen[0]).toMatchObject({ key: 'k', value: 'two', previous: 'one' });
      expect(await b.loadAll()).toEqual(new Map());
    } finally {
      await a.shutdown();
      await b.shutdown();
      await raw.shutdown();
    }
  });

  it(`a dict does not hear its own writes as remote [${t.name}]`, async () => {
    const target = t.target();
    const d = new PersistentDict<string, number>(uniqueName('g'), target);
    try {
      const seen: Change<string, number>[] = [];
      const sub = d.changes$.subscribe((c) => seen.push(c));
      await d.set('a', 1);
      await d.set('a', 2);
      // Knowing every key, d also learns of new ones if they commit before
      // its LISTEN takes effect (then from the re-read that follows).
      await d.loadAll();
      // A round trip through the database after the notices went out.
      const other = new PersistentDict<string, number>(d.group, target);
      const marker = nextChange(d.changes$, (c) => c.key === 'marker');
      await other.set('marker', 0);
      await within(marker, 'the marker from the other dict');
      await other.shutdown();
      sub.unsubscribe();
      expect(seen.filter((c) => c.origin === 'remote').map((c) => c.key)).toEqual(['marker']);
    } finally {
      await d.shutdown();
    }
  });
});

(pgAvailable ? describe : describe.skip)('PersistentDict across processes [postgres]', () => {
  /** A DataSource of this test's own, its sessions (and its listener) named `app`. */
  const ownTarget = (app: string): DatabaseTarget =>
    ({ ...resolveTarget(PG_URL).options, applicationName: app }) as DatabaseTarget;

  async function listenerPid(raw: RawSql, app: string): Promise<number | undefined> {
    const rows = await raw.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE application_name = ? AND query LIKE 'LISTEN%'`,
      [`${app}:sasync-listener`],
    );
    return rows[0]?.pid;
  }

  it('a lazy write that fails and that nobody awaits does not crash the process [postgres]', async () => {
    // postgres refuses NUL in text: this serializer makes every write fail.
    const serializer = { encode: () => 'a\u0000b', decode: (text: string) => text };
    const d = new PersistentDict<string, unknown>(uniqueName('g'), PG_URL, { serializer });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      void d.set('k', 1);
      void d.delete('j');
      void d.update({ u: 1 });
      await expect(d.flush()).rejects.toThrow(/0x00|invalid byte|NUL character/);
      // Every write has failed by now; Node reports unhandled rejections
      // once the microtasks have run, before the next turn of the event loop.
      await new Promise(setImmediate);
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await d.shutdown();
    }
  });

  it('a set in another process reaches watch(key) as a remote change [postgres]', async () => {
    const target = ownTarget(uniqueName('remote'));
    const d = new PersistentDict<string, unknown>(uniqueName('g'), target);
    // On the dict's DataSource: its bus is the dict's.
    const raw = new RawSql(target);
    try {
      await d.set('k', 'mine');
      const remote = nextChange(d.changes$, (c) => c.key === 'k' && c.origin === 'remote');
      const watched: unknown[] = [];
      const sub = d.watch('k').subscribe((v) => watched.push(v));
      await listening(await raw.bus());
      await writeFromAnotherProcess(PG_URL, d.group, 'k', { from: 'child' });
      expect(await within(remote, 'the remote change')).toMatchObject({
        type: 'set',
        value: { from: 'child' },
        previous: 'mine',
        origin: 'remote',
      });
      // The watch heard the same change, synchronously.
      sub.unsubscribe();
      expect(watched).toEqual(['mine', { from: 'child' }]);
    } finally {
      await d.shutdown();
      await raw.shutdown();
    }
  }, 60_000);

  it('after its listening connection is killed, sees a write made while it was down once it reconnects [postgres]', async () => {
    const app = uniqueName('relisten');
    const clock = new VirtualTimeScheduler();
    const target = ownTarget(app);
    const d = new PersistentDict<string, unknown>(uniqueName('g'), target, { scheduler: clock });
    // On the dict's DataSource: its bus is the dict's.
    const raw = new RawSql(target);
    try {
      await d.set('k', 'before');
      // Known absent: the re-read must cover it too.
      expect(await d.get('new', null)).toBeNull();
      const watched: unknown[] = [];
      const sub = d.watch('k').subscribe((v) => watched.push(v));
      const bus = await raw.bus();
      await listening(bus);
      const pid = await listenerPid(raw, app);
      expect(pid).toBeDefined();
      const down = busState(bus, 'down');
      // Only this test's own listener: found by its application name.
      await raw.query('SELECT pg_terminate_backend(?)', [pid]);
      await down;
      // The reconnection waits on the virtual clock: the connection stays down.
      expect(clock.actions.length).toBeGreaterThan(0);
      await writeFromAnotherProcess(PG_URL, d.group, 'k', 'while down');
      await writeFromAnotherProcess(PG_URL, d.group, 'new', 'also while down');
      expect(watched).toEqual(['before']);
      expect(await d.get('k')).toBe('before');
      // Both writes show once it reconnects; each key's change may come on its own (re-reads per key).
      const resynced = nextChange(d.changes$, (c) => c.value === 'while down');
      const added = nextChange(d.changes$, (c) => c.key === 'new' && c.value === 'also while down');
      clock.flush();
      await within(resynced, 'the resync after reconnecting');
      await within(added, 'the key added while down');
      expect(await d.get('k')).toBe('while down');
      expect(await d.get('new')).toBe('also while down');
      const newPid = await listenerPid(raw, app);
      expect(newPid).toBeDefined();
      expect(newPid).not.toBe(pid);
      // Listening again: a later write arrives as a notice.
      const after = nextChange(d.changes$, (c) => c.value === 'after');
      await writeFromAnotherProcess(PG_URL, d.group, 'k', 'after');
      await within(after, 'the write after reconnecting');
      sub.unsubscribe();
      expect(watched).toEqual(['before', 'while down', 'after']);
    } finally {
      await d.shutdown();
      await raw.shutdown();
    }
    // Its listener is gone with it.
    const check = new RawSql(PG_URL);
    try {
      expect(await listenerPid(check, app)).toBeUndefined();
    } finally {
      await check.shutdown();
    }
  }, 60_000);
});
