import { Client } from 'pg';
import { filter, firstValueFrom, lastValueFrom } from 'rxjs';
import sqlite3 from 'sqlite3';
import { TimeoutError } from '../../lib';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import type { LiveQueryRunner } from '../../lib/dialect/dialect-live';
import { CAPTURE_LOCK_WAIT_MS, installPgCapture } from '../../lib/dialect/postgres/table-capture';
import { TABLE_KIND } from '../../lib/live/postgres-capture';
import { CAPTURE_INSTALL_TIMEOUT_MS, CAPTURE_METHOD } from '../../lib/live/patient-install';
import { watchTables } from '../../lib/live/table-changes';
import { until, within } from '../support/streams';
import { installVirtualClock } from '../support/virtual-clock';
import { fileAndPg, PG_URL, type TestTarget } from '../support/targets';
import { captureTriggers, triggerWaiting } from './support/pg-triggers';
import { Recorder } from './table-recorder';
import { TablesBroker } from './tables-broker';

/** Another connection that writes a row into `table` in a transaction it keeps open until `end()`. */
interface Holder {
  hold(table: string): Promise<void>;
  end(): Promise<void>;
  close(): Promise<void>;
}

async function pgHolder(): Promise<Holder> {
  const client = new Client({ connectionString: PG_URL });
  await client.connect();
  return {
    async hold(table) {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${table} (v) VALUES ('held')`);
    },
    end: async () => void (await client.query('COMMIT')),
    close: () => client.end(),
  };
}

function sqliteHolder(target: string): Holder {
  const db = new sqlite3.Database(target.slice('sqlite:'.length));
  const run = (sql: string) =>
    new Promise<void>((resolve, reject) => db.run(sql, (err) => (err ? reject(err) : resolve())));
  return {
    async hold(table) {
      await run('BEGIN IMMEDIATE');
      await run(`INSERT INTO ${table} (v) VALUES ('held')`);
    },
    end: () => run('COMMIT'),
    close: () => new Promise<void>((resolve, reject) => db.close((err) => (err ? reject(err) : resolve()))),
  };
}

const holderFor = (t: TestTarget, target: string) => (t.dialect === 'postgres' ? pgHolder() : sqliteHolder(target));

/** The first event of `type` of a capture install's transaction on `broker`. */
const installEvent = (broker: TablesBroker, type: 'started' | 'rolledBack') =>
  firstValueFrom(broker.events$.pipe(filter((e) => e.type === type && e.method === CAPTURE_METHOD)));

/** Waits for `watch` to be positioned, then for a write into `broker.a` to be reported to `rec`. */
async function reportsWrites(broker: TablesBroker, watch: { positioned: Promise<void> }, rec: Recorder, what: string) {
  await within(watch.positioned, what, 30_000);
  const heard = rec.next(broker.a);
  await broker.insert(broker.a, 'after');
  expect(await heard).toEqual({ changed: [broker.a] });
}

describe.each(fileAndPg)('the first capture install, with a write under way on the table [$name]', (t) => {
  let broker: TablesBroker;
  let target: string;
  let holder: Holder;

  beforeEach(async () => {
    target = t.target();
    broker = new TablesBroker(target);
    await broker.waitUntilRunning();
    holder = await holderFor(t, target);
  });

  afterEach(async () => {
    await holder.close();
    await broker.drop();
    await broker.shutdown();
  });

  it('waits for the write, is positioned once it ends, and reports the writes after', async () => {
    await holder.hold(broker.a);
    const started = firstValueFrom(broker.events$.pipe(filter((e) => e.type === 'started')));
    const rec = new Recorder();
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    let positioned = false;
    void w.positioned.then(() => (positioned = true));
    try {
      await within(started, 'the watch starting its work');
      expect(positioned).toBe(false);
      await holder.end();
      await reportsWrites(broker, w, rec, 'positioned once the write ended');
    } finally {
      w.stop();
    }
  });
});

describe.each(fileAndPg.filter((t) => t.dialect === 'postgres'))(
  'the first capture install on postgres, with a write under way on the table [$name]',
  (t) => {
    let broker: TablesBroker;
    let holder: Holder;
    let other: Client;

    beforeEach(async () => {
      broker = new TablesBroker(t.target());
      await broker.waitUntilRunning();
      holder = await pgHolder();
      other = new Client({ connectionString: PG_URL });
      await other.connect();
    });

    afterEach(async () => {
      await Promise.all([holder.close(), other.end()]);
      await broker.drop();
      await broker.shutdown();
    });

    const triggers = (table: string) => captureTriggers(other, table);

    it("each lock wait of the install is bounded past deadlock_timeout, and the caller's lock_timeout is put back", async () => {
      await broker.table(CHANGES_TABLE.name, CHANGES_TABLE.columns, CHANGES_TABLE.options);
      const MS = 'SELECT (extract(epoch FROM current_setting($1)::interval) * 1000)::int AS ms';
      const deadlock = ((await other.query(MS, ['deadlock_timeout'])).rows[0] as { ms: number }).ms;
      const seen: number[] = [];
      const after = await lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query("SET LOCAL lock_timeout = '7s'");
          const lockTimeout = async () => ((await tx.query(MS, ['lock_timeout'])) as { ms: number }[])[0]!.ms;
          const run: LiveQueryRunner = async (sql, parameters) => {
            if (sql.startsWith('CREATE TRIGGER')) seen.push(await lockTimeout());
            return tx.query(sql, [...parameters]);
          };
          const captured = await installPgCapture(
            run,
            { name: broker.a },
            { table: CHANGES_TABLE.name, channel: 'sasync_spec', kind: TABLE_KIND },
          );
          expect(captured).toHaveProperty('trigger');
          return lockTimeout();
        }),
      );
      expect(seen).toEqual([Math.max(CAPTURE_LOCK_WAIT_MS, deadlock + 500)]);
      expect(after).toBe(7000);
    });

    it(`does not hold the table's other writers back while it waits (each try gives way after ${CAPTURE_LOCK_WAIT_MS} ms or a little past deadlock_timeout)`, async () => {
      await holder.hold(broker.a);
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: broker.a }], rec.listener);
      let positioned = false;
      void w.positioned.then(() => (positioned = true));
      try {
        await until(() => triggerWaiting(other, broker.a), 'the trigger waiting for the write');
        // Behind a CREATE TRIGGER that waited as long as the write stays open, these would wait as long.
        for (const v of ['one', 'two', 'three']) {
          await within(
            other.query(`INSERT INTO ${broker.a} (v) VALUES ($1)`, [v]),
            `a write (${v}) while the install waits`,
          );
        }
        expect(positioned).toBe(false);
        expect(await triggers(broker.a)).toBe(0);
        await holder.end();
        await reportsWrites(broker, w, rec, 'positioned once the write ended');
        expect(await triggers(broker.a)).toBe(1);
      } finally {
        w.stop();
      }
    });

    it(`gives up with TimeoutError after ${CAPTURE_INSTALL_TIMEOUT_MS} ms, leaving no trigger and no timer; the table can be watched once the write ends`, async () => {
      await holder.hold(broker.a);
      const time = installVirtualClock();
      const rec = new Recorder();
      const w = watchTables(broker, [{ name: broker.a }], rec.listener);
      try {
        await within(installEvent(broker, 'started'), 'the first try');
        await time.advance(CAPTURE_INSTALL_TIMEOUT_MS);
        const error = await within(
          w.positioned.then(
            () => undefined,
            (e: unknown) => e,
          ),
          'the watch giving up',
        );
        expect(error).toBeInstanceOf(TimeoutError);
        expect((error as TimeoutError).timeout).toBe(CAPTURE_INSTALL_TIMEOUT_MS);
        expect((error as TimeoutError).method).toBe(CAPTURE_METHOD);
        expect((error as TimeoutError).attempts).toBeGreaterThanOrEqual(1);
        expect((error as Error).message).toContain(`could not install the change capture on table "${broker.a}"`);
        expect((error as Error).message).toContain('Find the holder');
        w.stop();
        // The last try was cancelled: its rollback's grace timer goes once the rollback is done.
        await until(() => time.pending() === 0, 'no timer left');
      } finally {
        w.stop();
        time.uninstall();
      }
      expect(await triggers(broker.a)).toBe(0);
      expect(rec.reports).toEqual([]);
      await holder.end();
      const again = watchTables(broker, [{ name: broker.a }], rec.listener);
      try {
        await reportsWrites(broker, again, rec, 'a second watch, positioned');
      } finally {
        again.stop();
      }
    });

    it('live() on such a table errors with that TimeoutError, and the broker goes on serving', async () => {
      await holder.hold(broker.a);
      const time = installVirtualClock();
      try {
        const firstTry = installEvent(broker, 'started');
        const result = firstValueFrom(broker.live(`SELECT id, v FROM ${broker.a}`)).then(
          () => undefined,
          (e: unknown) => e,
        );
        await within(firstTry, 'the first try');
        await time.advance(CAPTURE_INSTALL_TIMEOUT_MS);
        expect(await within(result, 'the live query erroring')).toBeInstanceOf(TimeoutError);
        await until(() => time.pending() === 0, 'no timer left');
      } finally {
        time.uninstall();
      }
      await holder.end();
      await broker.insert(broker.a, 'after');
      expect(await broker.count(broker.a)).toBe(2);
    });

    it('a watch stopped while its install waits leaves no timer, and its install gives up', async () => {
      await holder.hold(broker.a);
      const time = installVirtualClock();
      try {
        // The first try gives way (rolled back), then its pause waits on the virtual clock.
        const gaveWay = installEvent(broker, 'rolledBack');
        const w = watchTables(broker, [{ name: broker.a }], new Recorder().listener);
        await within(gaveWay, 'the first try giving way');
        w.stop();
        await within(w.positioned, 'the stopped watch settling');
        expect(time.pending()).toBe(0);
      } finally {
        time.uninstall();
      }
      expect(await triggers(broker.a)).toBe(0);
    });
  },
);
