import { Client } from 'pg';
import { lastValueFrom } from 'rxjs';
import { sqliteConnection } from '../../lib/dialect/typeorm/sqlite-driver';
import { changeListenerCount } from '../../lib/dialect/sqlite/update-hook';
import { watchTables, watcherStats } from '../../lib/live/table-changes';
import { TREE_CHECK_MS } from '../../lib/live/postgres-capture';
import { CAPTURE_METHOD } from '../../lib/live/patient-install';
import { until, within } from '../support/streams';
import { installVirtualClock, type VirtualClock } from '../support/virtual-clock';
import { fileAndPg, PG_URL, pgAvailable, postgres, sqliteFile, sqliteMemory, uniqueName } from '../support/targets';
import { captureTriggers } from './support/pg-triggers';
import { Recorder } from './table-recorder';
import { childWriter, outsideWriter } from './table-writers';
import { TablesBroker } from './tables-broker';

const pgOnly = pgAvailable ? [postgres] : [];

describe.each(pgOnly)('watchTables on postgres [$name]', (t) => {
  let broker: TablesBroker;
  const parent = uniqueName('lp');

  beforeEach(async () => {
    broker = new TablesBroker(t.target());
    await broker.waitUntilRunning();
    await lastValueFrom(broker.query(`CREATE TABLE ${parent} (k int, v text) PARTITION BY RANGE (k)`));
    await lastValueFrom(broker.query(`CREATE TABLE ${parent}_1 PARTITION OF ${parent} FOR VALUES FROM (0) TO (10)`));
    await lastValueFrom(broker.query(`CREATE TABLE ${parent}_2 PARTITION OF ${parent} FOR VALUES FROM (10) TO (20)`));
  });

  afterEach(async () => {
    await lastValueFrom(broker.query(`DROP TABLE IF EXISTS ${parent}`));
    await broker.drop();
    await broker.shutdown();
  });

  it('reports a partition written through its parent, and a parent whose partition is written directly', async () => {
    const onPartition = new Recorder();
    const onParent = new Recorder();
    const w1 = watchTables(broker, [{ name: `${parent}_1` }], onPartition.listener);
    const w2 = watchTables(broker, [{ schema: 'public', name: parent }], onParent.listener);
    try {
      await Promise.all([w1.positioned, w2.positioned]);
      const heard = [onPartition.next(`${parent}_1`), onParent.next(parent)];
      await lastValueFrom(broker.query(`INSERT INTO ${parent} (k, v) VALUES (1, 'through the parent')`));
      await Promise.all(heard);
      const direct = onParent.next(parent);
      await lastValueFrom(broker.query(`INSERT INTO ${parent}_2 (k, v) VALUES (11, 'direct')`));
      await direct;
      const truncated = onPartition.next(`${parent}_1`);
      await lastValueFrom(broker.query(`TRUNCATE ${parent}_1`));
      await truncated;
    } finally {
      w1.stop();
      w2.stop();
    }
  });

  describe('the partition tree changing while it is watched', () => {
    let time: VirtualClock;
    beforeEach(() => {
      time = installVirtualClock();
    });
    afterEach(() => time.uninstall());
    const q = (sql: string) => lastValueFrom(broker.query(sql));

    it('a partition created later: reported at the next look at the tree, then each write straight into it as it commits', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }], rec.listener);
      try {
        await w.positioned;
        await q(`CREATE TABLE ${parent}_3 PARTITION OF ${parent} FOR VALUES FROM (20) TO (30)`);
        // Written straight into the new partition before it has the capture: not logged, so the look
        // at the tree that finds the partition reports the table.
        await q(`INSERT INTO ${parent}_3 (k, v) VALUES (21, 'before the look')`);
        const found = rec.next(parent, 'a report once the new partition is found');
        await time.advance(TREE_CHECK_MS);
        await found;
        // From then on the new partition logs its own writes.
        const direct = rec.next(parent, 'a report of a write straight into the new partition');
        await q(`INSERT INTO ${parent}_3 (k, v) VALUES (22, 'after')`);
        await direct;
        const truncated = rec.next(parent, 'a report of the new partition truncated');
        await q(`TRUNCATE ${parent}_3`);
        await truncated;
      } finally {
        w.stop();
      }
    });

    it('a table attached with its rows, then detached: each reported at the next look at the tree, which the listening follows', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }], rec.listener);
      const groups = async () => (await watcherStats(broker))!.groups;
      try {
        await w.positioned;
        // The parent and its two partitions.
        expect(await groups()).toBe(3);
        await q(`CREATE TABLE ${parent}_4 (k int, v text)`);
        await q(`INSERT INTO ${parent}_4 (k, v) VALUES (31, 'brought in')`);
        await q(`ALTER TABLE ${parent} ATTACH PARTITION ${parent}_4 FOR VALUES FROM (30) TO (40)`);
        const attached = rec.next(parent, 'a report of the attach');
        await time.advance(TREE_CHECK_MS);
        await attached;
        expect(await groups()).toBe(4);
        await q(`ALTER TABLE ${parent} DETACH PARTITION ${parent}_4`);
        const detached = rec.next(parent, 'a report of the detach');
        await time.advance(TREE_CHECK_MS);
        await detached;
        // Detached, it is no longer listened to: its writes are not the parent's changes.
        expect(await groups()).toBe(3);
        const through = rec.next(parent, 'a report of a write through the parent');
        await q(`INSERT INTO ${parent} (k, v) VALUES (1, 'through the parent')`);
        await through;
      } finally {
        w.stop();
        await q(`DROP TABLE IF EXISTS ${parent}_4`);
      }
    });

    it('a watched table attached to a parent later: writes through the parent are reported after the next look', async () => {
      const alone = uniqueName('la');
      await q(`CREATE TABLE ${alone} (k int, v text)`);
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: alone }], rec.listener);
      try {
        await w.positioned;
        await q(`ALTER TABLE ${parent} ATTACH PARTITION ${alone} FOR VALUES FROM (40) TO (50)`);
        const attached = rec.next(alone, 'a report of the attach');
        await time.advance(TREE_CHECK_MS);
        await attached;
        const through = rec.next(alone, 'a report of a write through the new parent');
        await q(`INSERT INTO ${parent} (k, v) VALUES (41, 'through the parent')`);
        await through;
      } finally {
        w.stop();
        await q(`DROP TABLE IF EXISTS ${alone}`);
      }
    });

    it('a new partition the capture cannot be installed on in time: the table resyncs, and the capture goes on at a later look', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }], rec.listener);
      // The writer holds a transaction open; the observer reads the catalog.
      const [writer, observer] = [new Client({ connectionString: PG_URL }), new Client({ connectionString: PG_URL })];
      await Promise.all([writer.connect(), observer.connect()]);
      try {
        await w.positioned;
        await q(`CREATE TABLE ${parent}_5 PARTITION OF ${parent} FOR VALUES FROM (50) TO (60)`);
        // A write under way on the new partition: its trigger waits for it.
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO ${parent}_5 (k, v) VALUES (51, 'held')`);
        const resynced = rec.next(parent, 'a resync once the install gave up');
        // The look's install waits its lock wait (real time, on the server) for the write, then gives up.
        await time.advance(TREE_CHECK_MS);
        expect(await resynced).toEqual({ resync: true });
        expect(await captureTriggers(observer, `${parent}_5`)).toBe(0);
        await writer.query('COMMIT');
        // The next look comes after twice the pause: none at the usual one.
        const looks: number[] = [];
        const sub = broker.events$.subscribe((e) => {
          if (e.type === 'queued' && e.method === 'live: check the partition tree') looks.push(e.id);
        });
        const installed = rec.next(parent, 'a report once the capture is installed');
        await time.advance(TREE_CHECK_MS);
        expect(looks).toEqual([]);
        await time.advance(TREE_CHECK_MS);
        expect(await installed).toEqual({ changed: [parent] });
        sub.unsubscribe();
        expect(looks.length).toBeGreaterThan(0);
        expect((await watcherStats(broker))!.groups).toBe(4);
        const direct = rec.next(parent, 'a write straight into the partition');
        await q(`INSERT INTO ${parent}_5 (k, v) VALUES (52, 'after')`);
        await direct;
      } finally {
        w.stop();
        await Promise.all([writer.end(), observer.end()]);
      }
    });

    it('a table whose install fails backs off alone: a table looked at with it keeps its pace', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }, { name: broker.a }], rec.listener);
      const writer = new Client({ connectionString: PG_URL });
      await writer.connect();
      const looks: number[] = [];
      const installs: number[] = [];
      const sub = broker.events$.subscribe((e) => {
        if (e.type === 'committed' && e.method === 'live: check the partition tree') looks.push(e.id);
        if (e.type === 'started' && e.method === CAPTURE_METHOD) installs.push(e.id);
      });
      try {
        await w.positioned;
        const timers = time.pending();
        await q(`CREATE TABLE ${parent}_6 PARTITION OF ${parent} FOR VALUES FROM (60) TO (70)`);
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO ${parent}_6 (k, v) VALUES (61, 'held')`);
        const before = installs.length;
        const resynced = rec.next(parent, 'a resync once the install gave up');
        await time.advance(TREE_CHECK_MS);
        expect(await resynced).toEqual({ resync: true });
        await until(() => looks.length === 1 && time.pending() === timers, 'the first look done');
        expect(installs.length).toBeGreaterThan(before);
        const tried = installs.length;
        // broker.a is looked at again after the usual pause; the parent, whose install failed, is not.
        await time.advance(TREE_CHECK_MS);
        await until(() => looks.length === 2 && time.pending() === timers, 'the second look done');
        expect(installs.length).toBe(tried);
        await writer.query('COMMIT');
        const installed = rec.next(parent, 'a report once the capture is installed');
        await time.advance(TREE_CHECK_MS);
        expect(await installed).toEqual({ changed: [parent] });
        expect(installs.length).toBeGreaterThan(tried);
        expect(rec.reports.filter((r) => 'changed' in r && r.changed.includes(broker.a))).toEqual([]);
      } finally {
        sub.unsubscribe();
        w.stop();
        await writer.end();
      }
    });

    it('a look takes no lock on the tree: an ALTER holding a partition does not hold it up', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }], rec.listener);
      const locker = new Client({ connectionString: PG_URL });
      await locker.connect();
      const looks: number[] = [];
      const sub = broker.events$.subscribe((e) => {
        if (e.type === 'committed' && e.method === 'live: check the partition tree') looks.push(e.id);
      });
      try {
        await w.positioned;
        const timers = time.pending();
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${parent}_2 IN ACCESS EXCLUSIVE MODE`);
        await time.advance(TREE_CHECK_MS);
        await until(() => looks.length === 1 && time.pending() === timers, 'the look, while the lock is held');
        expect(rec.reports).toEqual([]);
      } finally {
        sub.unsubscribe();
        w.stop();
        await locker.query('ROLLBACK');
        await locker.end();
      }
    });

    it('several watched tables are looked at in one read per period, in step even when their watches started apart', async () => {
      const rec = new Recorder();
      const queued: number[] = [];
      const looks: number[] = [];
      const sub = broker.events$.subscribe((e) => {
        if (e.method !== 'live: check the partition tree') return;
        if (e.type === 'queued') queued.push(e.id);
        if (e.type === 'committed') looks.push(e.id);
      });
      const first = watchTables(broker, [{ name: parent }], rec.listener);
      await first.positioned;
      await time.advance(TREE_CHECK_MS / 5);
      const later = watchTables(broker, [{ name: broker.a }, { name: broker.b }], rec.listener);
      await later.positioned;
      const timers = time.pending();
      // Every look started has ended, and the next one's timer is set.
      const settled = () => queued.length === looks.length && time.pending() === timers;
      try {
        // The first watch's look is due: it looks at the later watch's tables too.
        await time.advance(TREE_CHECK_MS - TREE_CHECK_MS / 5);
        await until(() => looks.length >= 1 && settled(), 'the first look');
        // When the later watch's own look would have been due, none starts.
        await time.advance(TREE_CHECK_MS / 5);
        await until(settled, 'no look under way');
        expect(looks).toHaveLength(1);
        for (let period = 2; period <= 3; period++) {
          await time.advance(TREE_CHECK_MS);
          await until(() => looks.length >= period && settled(), `the looks of period ${period}`);
          expect(looks).toHaveLength(period);
        }
        expect(rec.reports).toEqual([]);
        expect((await watcherStats(broker))!.tables).toBe(3);
      } finally {
        sub.unsubscribe();
        first.stop();
        later.stop();
      }
      expect(time.pending()).toBe(0);
    });

    it('an unchanged tree: the look finds nothing to report, and no timer is left once the watch stops', async () => {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: parent }], rec.listener);
      await w.positioned;
      const looks: number[] = [];
      const sub = broker.events$.subscribe((e) => {
        if (e.type === 'committed' && e.method === 'live: check the partition tree') looks.push(e.id);
      });
      const timers = time.pending();
      await time.advance(TREE_CHECK_MS);
      // The look has read the catalog, and set the timer of the next one once it was done.
      await until(() => looks.length > 0 && time.pending() === timers, 'the look at the tree');
      sub.unsubscribe();
      // It reported nothing: a write after it is the first report.
      const heard = rec.next(parent);
      await q(`INSERT INTO ${parent} (k, v) VALUES (2, 'x')`);
      await heard;
      expect(rec.reports).toEqual([{ changed: [parent] }]);
      w.stop();
      expect(time.pending()).toBe(0);
    });
  });

  it('started inside a transaction that then rolls back, its triggers are not rolled back with it', async () => {
    const rec = new Recorder();
    let w: ReturnType<typeof watchTables> | undefined;
    await expect(
      lastValueFrom(
        broker.transact(async () => {
          w = watchTables(broker, [{ name: broker.a }], rec.listener);
          // Positioned while this transaction is still open (its statements are not in it), then rolled back.
          await within(w.positioned, 'positioned inside a transaction');
          throw new Error('roll back');
        }),
      ),
    ).rejects.toThrow('roll back');
    try {
      const heard = rec.next(broker.a);
      await broker.insert(broker.a, 'x');
      await heard;
    } finally {
      w?.stop();
    }
  });

  it('logs one entry per transaction and table, however many statements, and again after a savepoint rolled back', async () => {
    const rec = new Recorder();
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    try {
      await w.positioned;
      const heard = rec.next(broker.a);
      const xid = await lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query('SAVEPOINT s');
          await tx.query(broker.insertSql(broker.a), ['rolled back']);
          await tx.query('ROLLBACK TO SAVEPOINT s');
          for (let i = 0; i < 5; i++) await tx.query(broker.insertSql(broker.a), [`kept ${i}`]);
          const [row] = (await tx.query('SELECT pg_current_xact_id()::text AS xid')) as { xid: string }[];
          return row!.xid;
        }),
      );
      await heard;
      const entries = await lastValueFrom(
        broker.query<{ n: string }>(`SELECT count(*) AS n FROM sasync_changes WHERE kind = '#table' AND xid = $1`, [
          xid,
        ]),
      );
      expect(Number(entries[0]!.n)).toBe(1);
      expect(rec.changedNames).toEqual([broker.a]);
    } finally {
      w.stop();
    }
  });
});

describe.each([sqliteMemory, sqliteFile])('watchTables on sqlite [$name]', (t) => {
  let broker: TablesBroker;

  beforeEach(async () => {
    broker = new TablesBroker(t.target());
    await broker.waitUntilRunning();
  });

  afterEach(async () => {
    await broker.drop();
    await broker.shutdown();
  });

  it(`shares the connection's 'change' event with an app's own listener, which keeps hearing after the last stop [${t.name}]`, async () => {
    const db = sqliteConnection(broker.dataSource)!;
    const appHeard: string[] = [];
    const app = (_type: string, _db: string, table: string) => appHeard.push(table);
    db.on('change', app);
    try {
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: broker.a }], rec.listener);
      await w.positioned;
      const heard = rec.next(broker.a);
      await broker.insert(broker.a, 'x');
      await heard;
      w.stop();
      expect(changeListenerCount(broker.dataSource)).toBe(1);
      const before = appHeard.length;
      await broker.insert(broker.b, 'y');
      // The event comes through the event loop after the write: bounded wait for it, no sleep.
      await within(
        (async () => {
          while (!appHeard.slice(before).includes(broker.b)) await new Promise((r) => setImmediate(r));
        })(),
        "the app's own listener hears",
      );
    } finally {
      db.removeListener('change', app);
    }
  });

  it(`a counter row deleted by hand is made again, and the watchers resync [${t.name}]`, async () => {
    const rec = new Recorder();
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    try {
      await w.positioned;
      const resynced = rec.next('(a resync)');
      await lastValueFrom(broker.query(`DELETE FROM sasync_live_tables WHERE name = ?`, [broker.a]));
      await broker.insert(broker.a, 'not counted');
      await resynced;
      expect(rec.resyncs).toBe(1);
      const heard = rec.next(broker.a);
      await broker.insert(broker.a, 'counted again');
      await heard;
    } finally {
      w.stop();
    }
    expect(await watcherStats(broker)).toMatchObject({ active: false });
  });
});

describe.each(fileAndPg)('watchTables under concurrent writers [$name]', (t) => {
  it(`the last report comes after every commit of three writers at once (a read at report time counts them all) [${t.name}]`, async () => {
    const target = t.target();
    const broker = new TablesBroker(target);
    await broker.waitUntilRunning();
    const counts: Promise<number>[] = [];
    const rec = new Recorder(() => counts.push(broker.count(broker.a)));
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    const child = await childWriter(target);
    const outside = await outsideWriter(t, target);
    const n = 40;
    try {
      await w.positioned;
      await Promise.all(
        [child, outside, { insert: (table: string, v: string) => broker.insert(table, v) }].map(async (writer, k) => {
          for (let i = 0; i < n; i++) await writer.insert(broker.a, `${k} ${i}`);
        }),
      );
      for (let seen = 0; ;) {
        while (counts.length === seen) await rec.next(broker.a, 'a report of the last commits');
        seen = counts.length;
        if ((await counts.at(-1)) === 3 * n) break;
      }
      console.log(`[${t.name}] ${3 * n} commits by three writers: ${rec.reports.length} reports`);
    } finally {
      await child.close();
      await outside.close();
      w.stop();
      await broker.drop();
      await broker.shutdown();
    }
  }, 120_000);
});
