import 'reflect-metadata';
import { Client } from 'pg';
import { lastValueFrom, toArray } from 'rxjs';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import { AccessBroker, ConnectionLostError, TransactionError } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { latch } from '../support/brokers';
import { until, within } from '../support/streams';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/** The application_name of the broker's sessions, on each server. */
const APP = 'stream-fallback';
/** An advisory lock a session of the spec holds on the replica: a stream's first read there waits for it. */
const GATE = 4242;
/**
 * Rows 1..n, with where they were read. The filter takes the advisory lock GATE (shared): postgres evaluates it
 * when the rows are first fetched, not when the cursor is opened, so the first read waits while the spec holds it.
 */
const GATED = (n: number) =>
  `SELECT g AS id, pg_is_in_recovery() AS replica FROM generate_series(1, ${n}) g ` +
  `WHERE pg_advisory_lock_shared(${GATE})::text = ''`;

@Entity('fallback_notes')
class FallbackNote {
  @PrimaryColumn('integer') id!: number;
  @Column('text') body!: string;
}

interface Row {
  readonly id: number;
  readonly replica: boolean;
}

/** The broker's sessions on `server` that are in a transaction or running a statement. */
async function busy(server: ReplicaPair['replica']): Promise<{ pid: number; state: string; wait: string | null }[]> {
  return server.query(
    `SELECT pid, state, wait_event_type AS wait FROM pg_stat_activity
     WHERE application_name = $1 AND state <> 'idle' AND pid <> pg_backend_pid()`,
    [APP],
  );
}

(pgClusterAvailable ? describe : describe.skip)('replicated target: a stream whose replica fails [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  beforeAll(async () => {
    pair = await createReplicaPair();
    broker = new AccessBroker({
      primary: { type: 'postgres', url: `${pair.primary.url}?application_name=${APP}`, entities: [FallbackNote] },
      replicas: [`${pair.replica.url}?application_name=${APP}`],
    });
    await broker.waitUntilRunning();
    await broker.query('CREATE TABLE fallback_notes (id integer PRIMARY KEY, body text NOT NULL)');
    await broker.query("INSERT INTO fallback_notes SELECT g, 'n' || g FROM generate_series(1, 500) g");
  });
  afterAll(async () => {
    await broker?.shutdown();
    await pair?.remove();
  });

  /** Waits until reads are served by the replica again (after a failure took it out of the rotation). */
  async function replicaBack(): Promise<void> {
    await until(
      async () => (await broker.query<{ replica: boolean }>(WHERE))[0]!.replica,
      'the replica is back in the rotation',
    );
  }

  /** Runs `fn` while another session on the replica holds the GATE lock, released after. */
  async function whileGated<T>(fn: () => Promise<T>): Promise<T> {
    const holder = new Client({ connectionString: pair.replica.url, application_name: 'stream-fallback-gate' });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1)', [GATE]);
      return await fn();
    } finally {
      await holder.end();
    }
  }

  /** Once the stream's first read waits for the GATE lock on the replica, terminates its backend. */
  async function terminateWaitingRead(): Promise<void> {
    let waiting: { pid: number }[] = [];
    await until(async () => {
      waiting = (await busy(pair.replica)).filter((s) => s.state === 'active' && s.wait === 'Lock');
      return waiting.length === 1;
    }, "the stream's first read waits on the replica");
    expect(await pair.replica.terminate(waiting[0]!.pid)).toBe(1);
  }

  it('reads every row once, from the primary, when the replica goes away between opening the cursor and its first read', async () => {
    await replicaBack();
    await whileGated(async () => {
      const rows = lastValueFrom(broker.stream<Row>(GATED(1000), [], { batchSize: 100 }).pipe(toArray()));
      rows.catch(() => undefined);
      // The cursor is open on the replica, and its first read waits for the lock.
      await terminateWaitingRead();
      const read = await within(rows, 'the stream');
      expect(read.map((r) => r.id)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(read.every((r) => !r.replica)).toBe(true);
    });
    await until(async () => (await busy(pair.replica)).length === 0, 'nothing of the broker is busy on the replica');
    await until(async () => (await busy(pair.primary)).length === 0, 'nothing of the broker is busy on the primary');
  });

  it('hydrates every entity once, from the primary, when the replica goes away before the first read', async () => {
    await replicaBack();
    await whileGated(async () => {
      const qb = broker.dataSource
        .getRepository(FallbackNote)
        .createQueryBuilder('n')
        .where(`pg_advisory_lock_shared(${GATE})::text = ''`)
        .orderBy('n.id');
      const notes = lastValueFrom(broker.stream(qb, { entities: true, batchSize: 64 }).pipe(toArray()));
      notes.catch(() => undefined);
      await terminateWaitingRead();
      const read = await within(notes, 'the stream');
      expect(read.every((n) => n instanceof FallbackNote)).toBe(true);
      expect(read.map((n) => n.id)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(read[499]!.body).toBe('n500');
    });
    await until(async () => (await busy(pair.replica)).length === 0, 'nothing of the broker is busy on the replica');
  });

  it('fails the stream when the replica goes away after rows were delivered: nothing is read twice, nor from the primary', async () => {
    await replicaBack();
    const got: Row[] = [];
    const first = latch();
    const cut = latch();
    // Consumed a row at a time, the first held until the replica's session of the stream is gone.
    const consumed = (async () => {
      for await (const row of broker.stream<Row>(
        'SELECT g AS id, pg_is_in_recovery() AS replica FROM generate_series(1, 100000) g',
        [],
        { batchSize: 10 },
      )) {
        got.push(row);
        if (got.length === 1) {
          first.resolve();
          await cut.promise;
        }
      }
    })().then(
      () => undefined,
      (err: unknown) => err,
    );
    await first.promise;
    const sessions = (await busy(pair.replica)).map((s) => s.pid);
    expect(sessions).toHaveLength(1);
    expect(await pair.replica.terminate(sessions[0]!)).toBe(1);
    cut.resolve();
    const error = await within(consumed, 'the stream');
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).cause).toBeInstanceOf(ConnectionLostError);
    const ids = got.map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(ids.length).toBeLessThan(100000);
    expect(got.every((r) => r.replica)).toBe(true);
    await until(async () => (await busy(pair.replica)).length === 0, 'nothing of the broker is busy on the replica');
  });

  it('gives every connection back: the pool is whole, and both stream budgets can be had whole again', async () => {
    await replicaBack();
    const stats = broker.connectionStats();
    expect(stats.waiting).toBe(0);
    expect(stats.idle).toBe(stats.open);
    for (const route of ['replica', 'primary'] as const) {
      // A postgres broker sets two connections apart for streams, on each server: both held at once.
      const all = latch();
      let holding = 0;
      const where: boolean[] = [];
      const readers = Array.from({ length: 2 }, async () => {
        for await (const row of broker.stream<{ replica: boolean }>(WHERE, [], { route })) {
          where.push(row.replica);
          if (++holding === 2) all.resolve();
          await all.promise;
        }
      });
      await within(Promise.all(readers), `two streams at once on the ${route}`);
      expect(where).toEqual([route === 'replica', route === 'replica']);
    }
    await until(async () => (await busy(pair.replica)).length === 0, 'nothing of the broker is busy on the replica');
    await until(async () => (await busy(pair.primary)).length === 0, 'nothing of the broker is busy on the primary');
  });
});
