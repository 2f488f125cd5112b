import { spawnSync } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { lastValueFrom, toArray } from 'rxjs';
import { ConnectionLostError, TransactionError } from '../../lib';
import { expectPoolWhole } from '../support/brokers';
import { useClusterBroker } from '../support/cluster-broker';
import { PG_BIN, pgClusterAvailable, processState, type PgCluster } from '../support/pg-cluster';
import { until, within } from '../support/streams';

/** How the connection under the stream goes: the server stops (fast, immediate) or its backend is terminated. */
type Loss = 'fast' | 'immediate' | 'terminate';
const LOSSES: readonly Loss[] = ['fast', 'immediate', 'terminate'];

/** The advisory lock a read waits on while the spec holds it: the read is then in flight on the server. */
const LOCK = 4242;
/** The session holding {@link LOCK}: its application_name. */
const HOLDER = 'sasync-spec-lock-holder';

/**
 * A stream's read whose server stops (fast, immediate) or whose backend is
 * terminated: the read settles, with a TransactionError caused by a
 * ConnectionLostError, whatever the moment, its connection is given up, and
 * the broker serves again once the server is back. The moment that hung
 * before: the read's last rows and its CommandComplete have arrived (pg-cursor
 * then closes its portal and waits for ReadyForQuery), and the connection
 * ends before ReadyForQuery; pg-cursor ignores an error once its portal is
 * closing, so nothing settled the read, nor the stream, nor its connection.
 * Likewise a close (the consumer stopping between reads) whose Close was sent
 * and whose ReadyForQuery never comes. Each moment is made exactly: the
 * event loop held while the server goes on, or the backend frozen while it
 * is told to end.
 */
(pgClusterAvailable ? describe : describe.skip)('a cursor read when its server stops [postgres]', () => {
  const fixture = useClusterBroker();
  let holder: Client | undefined;

  afterEach(async () => {
    await holder?.end().catch(() => undefined);
    holder = undefined;
    if (!fixture.cluster.running()) await fixture.cluster.start();
  });

  /** Takes {@link LOCK} in a session of its own, held until that session ends. */
  async function holdLock(): Promise<void> {
    holder = new Client({ connectionString: fixture.cluster.url, application_name: HOLDER });
    // The session is terminated or the server stopped under it.
    holder.on('error', () => undefined);
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock($1)', [LOCK]);
  }

  /** The pid of the backend waiting for {@link LOCK}, once one is. */
  async function waitingBackend(): Promise<number> {
    let pid: number | undefined;
    await until(async () => {
      const rows = await fixture.cluster.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1`,
        [LOCK],
      );
      pid = rows[0]?.pid;
      return pid !== undefined;
    }, 'a read waits for the lock');
    return pid!;
  }

  /** The loss, from the spec's side, while the event loop runs (the client hears of it at once). */
  async function lose(loss: Loss, pid: number): Promise<void> {
    if (loss === 'terminate') expect(await fixture.cluster.terminate(pid)).toBe(1);
    else await fixture.cluster.stop({ mode: loss });
  }

  /**
   * With this process's event loop held (so that the client answers nothing
   * and reads nothing meanwhile): lets the read waiting on the lock go on (its
   * holder terminated), waits until its backend has sent the rest of its rows
   * and its CommandComplete (it waits for the client again), then loses the
   * connection. Once the loop runs again the client finds, in order, its rows,
   * CommandComplete, and the end of the connection instead of ReadyForQuery.
   */
  function loseAfterCommandComplete(cluster: PgCluster, loss: Loss, pid: number): void {
    const psql = `'${path.join(PG_BIN, 'psql')}' -X -q -At -h 127.0.0.1 -p ${cluster.port} -U postgres -d postgres`;
    const pgCtl = `${process.getuid?.() === 0 ? 'runuser -u postgres -- ' : ''}'${path.join(PG_BIN, 'pg_ctl')}'`;
    const action =
      loss === 'terminate'
        ? `${psql} -c 'SELECT pg_terminate_backend(${pid})' >/dev/null`
        : `${pgCtl} -D '${cluster.dataDir}' -m ${loss} -w -t 60 stop >/dev/null`;
    const script = [
      'set -e',
      `${psql} -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${HOLDER}'" >/dev/null`,
      // Bounded: 1,000 looks (a few ms each).
      'n=0',
      `until [ "$(${psql} -c "SELECT wait_event FROM pg_stat_activity WHERE pid = ${pid}")" = ClientRead ]; do`,
      '  n=$((n + 1)); if [ $n -gt 1000 ]; then echo "the read never finished on the server" >&2; exit 1; fi',
      'done',
      action,
    ].join('\n');
    const result = spawnSync('bash', ['-c', script], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`the loss failed: ${result.stderr || String(result.error)}`);
  }

  /** Runs a binary of the cluster's, as the postgres OS user when we are root; throws if it fails. */
  function pgBin(bin: string, args: string[]): void {
    const file = path.join(PG_BIN, bin);
    const [cmd, argv] = process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    const result = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`${bin} failed: ${result.stderr || String(result.error)}`);
  }

  /** Whether `signal` (a number) waits for the process `pid` (stopped, it cannot take it yet). */
  function signalPending(pid: number, signal: number): boolean {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const mask = (name: string) =>
      BigInt(
        `0x${
          status
            .split('\n')
            .find((line) => line.startsWith(`${name}:`))
            ?.split(/\s+/)[1] ?? '0'
        }`,
      );
    const bit = 1n << BigInt(signal - 1);
    return ((mask('ShdPnd') | mask('SigPnd')) & bit) !== 0n;
  }

  /**
   * The backend `pid`, frozen (SIGSTOP) with what the client sent it unread,
   * is told to end (terminated, or the server stops: SIGTERM for fast, SIGQUIT
   * for immediate) and then thawed: it ends without reading it.
   */
  async function loseFrozen(loss: Loss, pid: number): Promise<void> {
    if (loss === 'terminate') expect(await fixture.cluster.terminate(pid)).toBe(1);
    else pgBin('pg_ctl', ['-D', fixture.cluster.dataDir, '-m', loss, '-W', 'stop']);
    const signal = loss === 'immediate' ? 3 : 15;
    await until(() => signalPending(pid, signal), 'the backend is told to end');
    process.kill(pid, 'SIGCONT');
    if (loss !== 'terminate') await until(() => !fixture.cluster.running(), 'the server stopped', 60_000);
  }

  /** Stops the process `pid` (SIGSTOP), once it is stopped. */
  async function freezeBackend(pid: number): Promise<void> {
    process.kill(pid, 'SIGSTOP');
    await until(() => processState(pid) === 'T', 'the backend is stopped');
  }

  /** What `promise` settled with (its value or its error), or a failure naming what hung (within()'s bound). */
  function settled<T>(promise: Promise<T>, what: string): Promise<{ value?: T; error?: unknown }> {
    return within(
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      what,
      15_000,
    );
  }

  /**
   * A stream of `rows` rows in batches of 100 whose row 101 waits for the lock
   * {@link holdLock} took: the first batch read, the second asked for (its
   * read in flight, the backend waiting on the lock). In an object: an async
   * function returning the read itself would wait for it.
   */
  async function secondReadOnLock(
    rows: number,
  ): Promise<{ batches: AsyncIterator<unknown>; second: Promise<IteratorResult<unknown>> }> {
    await holdLock();
    const batches = fixture.broker
      .stream<{ g: number }>(
        'SELECT g, CASE WHEN g = 101 THEN pg_advisory_xact_lock_shared($1::bigint) END AS l ' +
          `FROM generate_series(1, ${rows}) AS g`,
        [LOCK],
        { batchSize: 100 },
      )
      .batches()
      [Symbol.asyncIterator]();
    expect((await batches.next()).value).toHaveLength(100);
    return { batches, second: batches.next() };
  }

  /** A stream of `rows` rows (each with its backend's pid) in batches of 100, its first batch read. */
  async function firstBatchOf(
    rows: number,
  ): Promise<{ batches: AsyncIterator<{ pid: number }[]>; first: { pid: number }[]; pid: number }> {
    const batches = fixture.broker
      .stream<{ pid: number }>(`SELECT g, pg_backend_pid() AS pid FROM generate_series(1, ${rows}) AS g`, [], {
        batchSize: 100,
      })
      .batches()
      [Symbol.asyncIterator]();
    const first = (await batches.next()).value as { pid: number }[];
    return { batches, first, pid: first[0]!.pid };
  }

  function expectLost(error: unknown): void {
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
    expect((error as Error).message).toMatch(/connection to .* was lost/);
  }

  /** The broker serves again (a query and a whole stream), with every connection back in its pool. */
  async function servesAgain(): Promise<void> {
    if (!fixture.cluster.running()) await fixture.cluster.start();
    const rows = await lastValueFrom(
      fixture.broker
        .stream<{ g: number }>('SELECT g FROM generate_series(1, 250) AS g', [], { batchSize: 100 })
        .pipe(toArray()),
    );
    expect(rows).toHaveLength(250);
    await until(
      () => fixture.broker.connectionStats().idle === fixture.broker.connectionStats().open,
      'the pool is whole',
    );
    expectPoolWhole(fixture.broker);
  }

  it.each(LOSSES)(
    'its last rows and CommandComplete arrived, then the connection ends before ReadyForQuery (%s) [postgres]',
    async (loss) => {
      // Rows 1-100 in the first read; the second takes the lock at row 101, and ends the result at 150.
      const { second } = await secondReadOnLock(150);
      loseAfterCommandComplete(fixture.cluster, loss, await waitingBackend());
      const { error } = await settled(second, 'the read');
      expectLost(error);
      await servesAgain();
    },
  );

  it.each(LOSSES)('a read in flight on the server (%s) [postgres]', async (loss) => {
    const { batches, second } = await secondReadOnLock(1000);
    await lose(loss, await waitingBackend());
    let read = await settled(second, 'the read');
    // A stopping server ends every backend, the lock's holder too, in no set order: when the holder
    // ends first, the read gets its rows before its own backend ends, and a later read meets the loss.
    // (At most nine more reads of 100 rows, each bounded.)
    while (read.value?.done === false) read = await settled(batches.next(), 'the next read');
    expectLost(read.error);
    await servesAgain();
  });

  it.each(LOSSES)('between two reads (%s) [postgres]', async (loss) => {
    const { batches, first, pid } = await firstBatchOf(1000);
    expect(first).toHaveLength(100);
    await lose(loss, pid);
    const { error } = await settled(batches.next(), 'the read');
    expectLost(error);
    await servesAgain();
  });

  it.each(LOSSES)(
    'the whole result was read (its ReadyForQuery came), then the connection ends (%s): the stream still ends with every row [postgres]',
    async (loss) => {
      const { batches, first, pid } = await firstBatchOf(50);
      expect(first).toHaveLength(50);
      await lose(loss, pid);
      // Nothing is left to ask the server: the end of the stream is not a failure.
      const { value, error } = await settled(batches.next(), 'the end of the stream');
      expect(error).toBeUndefined();
      expect(value).toEqual({ done: true, value: undefined });
      await servesAgain();
    },
  );

  it.each(LOSSES)(
    "the consumer stops between reads: the portal's Close sent, the connection ends before its ReadyForQuery (%s) [postgres]",
    async (loss) => {
      const { batches, pid } = await firstBatchOf(1000);
      await freezeBackend(pid);
      try {
        const stopped = batches.return!();
        // The backend cannot answer: a few turns of the event loop send the Close and leave it unanswered.
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        await loseFrozen(loss, pid);
        const { value, error } = await settled(stopped, "the stream's close");
        expect(error).toBeUndefined();
        expect(value).toEqual({ done: true, value: undefined });
      } finally {
        if (processState(pid) === 'T') process.kill(pid, 'SIGCONT');
      }
      await servesAgain();
    },
  );

  /** The 'error' and 'end' listeners on each client of the broker's pool (pg-pool internal `_clients`). */
  function poolListeners(): number[] {
    const driver = fixture.broker.dataSource.driver as { master?: { _clients?: EventEmitter[] } };
    return (driver.master?._clients ?? []).map((c) => c.listenerCount('error') + c.listenerCount('end'));
  }

  it('a failed stream, then one read to its end and one broken off, leave no listener on their connections [postgres]', async () => {
    await servesAgain();
    const [baseline] = poolListeners();
    expect(baseline).toBeDefined();
    const sql = 'SELECT g FROM generate_series(1, 250) AS g';
    const failing = fixture.broker.stream('SELECT 1 / (g - 200) FROM generate_series(1, 250) AS g', [], {
      batchSize: 100,
    });
    await expect(lastValueFrom(failing.pipe(toArray()))).rejects.toThrow(/division by zero/);
    expect(await lastValueFrom(fixture.broker.stream(sql, [], { batchSize: 100 }).pipe(toArray()))).toHaveLength(250);
    for await (const batch of fixture.broker.stream(sql, [], { batchSize: 100 }).batches()) {
      expect(batch).toHaveLength(100);
      break;
    }
    await until(
      () => fixture.broker.connectionStats().idle === fixture.broker.connectionStats().open,
      'the pool is whole',
    );
    expect(poolListeners().length).toBeGreaterThan(0);
    expect(new Set(poolListeners())).toEqual(new Set([baseline]));
  });
});
