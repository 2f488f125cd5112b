import { lastValueFrom } from 'rxjs';
import { sqliteConnection } from '../../lib/dialect/typeorm/sqlite-driver';
import { changeListenerCount } from '../../lib/dialect/sqlite/update-hook';
import { watchTables, watcherStats } from '../../lib/live/table-changes';
import { within } from '../support/streams';
import { fileAndPg, pgAvailable, postgres, sqliteFile, sqliteMemory, uniqueName } from '../support/targets';
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
