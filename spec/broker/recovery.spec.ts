import fs from 'node:fs';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import { DataSource } from 'typeorm';
import { AccessBroker, DatabaseError, SasyncError } from '../../lib';
import { FIRST_RETRY_DELAY } from '../../lib/broker/retrying';
import { ItemsBroker } from '../support/brokers';
import { holdSqliteLock } from '../support/sqlite-lock';
import { PG_URL, pgAvailable, scratchDir, uniqueName } from '../support/targets';
import { useVirtualClock, type VirtualClock } from '../support/virtual-clock';

const describePg = pgAvailable ? describe : describe.skip;

/**
 * Settles `promise`, running the transaction retry pauses it meets on the
 * way (table()'s, on the clock: a random few ms, never over 100): whenever
 * a timer is pending, virtual time moves on by 100 ms. The database works in
 * real time meanwhile; this looks again after each event-loop turn.
 */
async function withRetryPauses<T>(clock: VirtualClock, promise: Promise<T>): Promise<T> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    if (clock.pending() > 0) await clock.advance(100);
    else await new Promise((resolve) => setImmediate(resolve));
  }
  return promise;
}

/** The broker works: a write and a read through its queue. */
async function expectWorking(b: ItemsBroker): Promise<void> {
  await lastValueFrom(b.query(b.insertSql(), ['recovered']));
  expect(await b.names()).toEqual(['recovered']);
}

describe('a broker whose start-up failed recovers once the database is back [sqlite-file]', () => {
  // The start-up backoff runs on virtual time: it is over when the spec says so.
  const clock = useVirtualClock();

  it('a path whose directory cannot be made yet (a file stands in its place), then can', async () => {
    const dir = path.join(scratchDir(), uniqueName('later'));
    fs.writeFileSync(dir, 'not a directory');
    const target = `sqlite:${path.join(dir, 'db.sqlite')}`;
    const b = new ItemsBroker(target);
    const other = new ItemsBroker(target);
    // Asked while its first attempt is under way (after it, this would wait out the backoff).
    const otherStarted = other.waitUntilRunning();
    await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
    await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(DatabaseError);
    await expect(otherStarted).rejects.toThrow(DatabaseError);
    fs.rmSync(dir);
    // waitUntilRunning() waits out the backoff and tries again; the other broker's next call does.
    const started = b.waitUntilRunning();
    expect(clock.current.pending()).toBe(1);
    await clock.current.advance(FIRST_RETRY_DELAY);
    await started;
    await expectWorking(b);
    await lastValueFrom(other.query('SELECT 1 AS one'));
    expect(other.running).toBe(true);
    await expectWorking(other);
    await Promise.all([b.shutdown(), other.shutdown()]);
  });

  // Not yet in WAL mode, the file cannot even be opened (switching it to WAL
  // needs the lock: it fails once the busy timeout is over); in WAL mode it
  // opens, and startup()'s table() fails once the busy timeout is over (each
  // of its tries).
  it.each([
    ['not yet in WAL mode: opening fails', 'DELETE', DatabaseError],
    ['in WAL mode: startup() fails after the busy timeout', 'WAL', SasyncError],
  ] as const)('a file locked by another process (BEGIN EXCLUSIVE), then released; %s', async (_, journal, Expected) => {
    const file = path.join(scratchDir(), `${uniqueName('locked')}.sqlite`);
    const lock = await holdSqliteLock(file, journal);
    // A short busy timeout, so that the failure comes soon.
    const b = new ItemsBroker({ type: 'sqlite', database: file, busyTimeout: 300 });
    let released = false;
    try {
      await expect(withRetryPauses(clock.current, b.waitUntilRunning())).rejects.toThrow(Expected);
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(Expected);
      await lock.release();
      released = true;
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(Expected);
      await clock.current.advance(FIRST_RETRY_DELAY);
      await lastValueFrom(b.query('SELECT 1 AS one'));
      await expectWorking(b);
    } finally {
      if (!released) await lock.release();
      await b.shutdown();
    }
  });

  it('calls while the database is still away fail with DatabaseError, and at most one tries again at a time', async () => {
    const dir = path.join(scratchDir(), uniqueName('away'));
    fs.writeFileSync(dir, 'not a directory');
    const initialize = jest.spyOn(DataSource.prototype, 'initialize');
    try {
      const b = new ItemsBroker(`sqlite:${path.join(dir, 'db.sqlite')}`);
      await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
      const opened = initialize.mock.calls.length;
      const calls = Array.from({ length: 20 }, () =>
        lastValueFrom(b.query('SELECT 1 AS one')).catch((e: unknown) => e),
      );
      for (const error of await Promise.all(calls)) expect(error).toBeInstanceOf(DatabaseError);
      expect(initialize.mock.calls.length - opened).toBeLessThanOrEqual(1);
      await b.shutdown();
    } finally {
      initialize.mockRestore();
      fs.rmSync(dir);
    }
  });

  it('table() called after a failed start-up tries the start-up again, then creates its table', async () => {
    const dir = path.join(scratchDir(), uniqueName('table'));
    fs.writeFileSync(dir, 'not a directory');
    const b = new AccessBroker(`sqlite:${path.join(dir, 'db.sqlite')}`);
    await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
    await expect(b.table('later', [{ name: 'id', type: 'integer', primary: true }])).rejects.toThrow(DatabaseError);
    fs.rmSync(dir);
    await clock.current.advance(FIRST_RETRY_DELAY);
    await b.table('later', [{ name: 'id', type: 'integer', primary: true }]);
    expect(b.running).toBe(true);
    expect(await lastValueFrom(b.query('SELECT count(*) AS n FROM later'))).toEqual([{ n: 0 }]);
    await b.shutdown();
  });

  it('shutdown() after a failed start-up resolves and tries nothing again', async () => {
    const dir = path.join(scratchDir(), uniqueName('never'));
    fs.writeFileSync(dir, 'not a directory');
    const b = new ItemsBroker(`sqlite:${path.join(dir, 'db.sqlite')}`);
    await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
    await b.shutdown();
    fs.rmSync(dir);
    await expect(b.waitUntilRunning()).rejects.toThrow(DatabaseError);
    expect(fs.existsSync(dir)).toBe(false);
  });
});

describePg('a broker whose start-up failed recovers once the database is back [postgres]', () => {
  const clock = useVirtualClock();

  it('a database that does not exist yet, then CREATE DATABASE', async () => {
    const name = uniqueName('recover');
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    const admin = new AccessBroker(PG_URL);
    const b = new ItemsBroker(url.toString());
    try {
      const error = await b.waitUntilRunning().catch((err: unknown) => err);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).message).toMatch(/cannot open/);
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(DatabaseError);
      await lastValueFrom(admin.query(`CREATE DATABASE ${name}`));
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(DatabaseError);
      await clock.current.advance(FIRST_RETRY_DELAY);
      await lastValueFrom(b.query('SELECT 1 AS one'));
      expect(b.running).toBe(true);
      await expectWorking(b);
    } finally {
      await b.shutdown();
      await lastValueFrom(admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      await admin.shutdown();
    }
  });
});
