import { Client } from 'pg';
import { AccessBroker, CancelledError, TimeoutError, type TransactionEvent } from '../../lib';
import { waitingReads } from '../../lib/replicas/replica-choice';
import { pgClusterAvailable } from '../support/pg-cluster';
import { until } from '../support/streams';
import { installVirtualClock, type VirtualClock } from '../support/virtual-clock';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/** The outcome of `promise` once it settles: its error, or 'resolved'. */
function outcome(promise: PromiseLike<unknown>): { readonly value: unknown } {
  const result: { value: unknown } = { value: 'pending' };
  promise.then(
    () => (result.value = 'resolved'),
    (err: unknown) => (result.value = err),
  );
  return result;
}

(pgClusterAvailable ? describe : describe.skip)(
  'replicated target: the wait for a replica within timeout [postgres]',
  () => {
    let pair: ReplicaPair;
    let broker: AccessBroker;
    let time: VirtualClock;
    let events: TransactionEvent[];
    beforeAll(async () => {
      pair = await createReplicaPair();
    });
    afterAll(async () => {
      await pair?.remove();
    });
    beforeEach(async () => {
      // Reads wait up to a minute for the replica: only their own timeout (or signal) ends the wait sooner.
      broker = new AccessBroker(pair.target({ maxReplicaWait: 60_000, maxReplicaLag: 600_000 }));
      await broker.waitUntilRunning();
      await broker.query('CREATE TABLE IF NOT EXISTS t (id int)');
      events = [];
      broker.events$.subscribe((e) => events.push(e));
      time = installVirtualClock();
      await pair.replica.query('SELECT pg_wal_replay_pause()');
      // A commit the paused replica has not replayed: a read through this broker must wait for it.
      await broker.query('INSERT INTO t VALUES (1)');
      events.length = 0;
    });
    afterEach(async () => {
      time.uninstall();
      await pair.replica.query('SELECT pg_wal_replay_resume()');
      await broker.shutdown();
    });

    it('fails a read whose timeout comes while it waits for the replica: TimeoutError, nothing run, no waiter or timer left', async () => {
      const read = outcome(broker.query(WHERE, [], { timeout: 50 }));
      await until(() => waitingReads() === 1, 'the read waits for the replica');
      await time.advance(49);
      expect(read.value).toBe('pending');
      await time.advance(1);
      await until(() => read.value !== 'pending', 'the read failed');
      expect(read.value).toBeInstanceOf(TimeoutError);
      expect(read.value).toMatchObject({ method: 'query', timeout: 50 });
      expect((read.value as Error).message).toMatch(/waited for a replica .* timed out after 50 ms/);
      await until(() => waitingReads() === 0, 'the wait ended');
      expect(time.pending()).toBe(0);
      // Never queued, on either server.
      expect(events).toEqual([]);
    });

    it('ends the wait at once when the signal aborts, or the subscriber leaves', async () => {
      const controller = new AbortController();
      const read = outcome(broker.query(WHERE, [], { signal: controller.signal }));
      const left = broker.query(WHERE).subscribe();
      await until(() => waitingReads() === 2, 'both reads wait for the replica');
      controller.abort(new Error('no longer wanted'));
      left.unsubscribe();
      await until(() => waitingReads() === 0 && read.value !== 'pending', 'both waits ended');
      expect(read.value).toBeInstanceOf(CancelledError);
      expect((read.value as Error).message).toMatch(/waited for a replica .* no longer wanted/);
      expect(time.pending()).toBe(0);
      expect(events).toEqual([]);
    });

    it("drops a waiting read's timeout timer and signal listener as soon as it is unsubscribed", async () => {
      const controller = new AbortController();
      const listening = jest.spyOn(controller.signal, 'removeEventListener');
      const waiting = broker.query(WHERE, [], { timeout: 60_000, signal: controller.signal }).subscribe();
      await until(() => waitingReads() === 1, 'the read waits for the replica');
      // Its timeout's timer, and the replica choice's own (maxReplicaWait).
      expect(time.pending()).toBe(2);
      waiting.unsubscribe();
      // At once, not when the wait settles (a wait for a commit's position does not end on a cancel).
      expect(time.pending()).toBe(0);
      expect(listening).toHaveBeenCalled();
      await until(() => waitingReads() === 0, 'the wait ended');
    });

    it('ends the wait of a stream for the replica when its signal aborts, or its iteration is left', async () => {
      const controller = new AbortController();
      const aborted = outcome(broker.stream(WHERE, [], { signal: controller.signal }).consume(() => undefined));
      const left = broker.stream(WHERE).subscribe();
      await until(() => waitingReads() === 2, 'both streams wait for the replica');
      controller.abort(new Error('no longer wanted'));
      left.unsubscribe();
      await until(() => waitingReads() === 0 && aborted.value !== 'pending', 'both waits ended');
      expect(aborted.value).toBeInstanceOf(CancelledError);
      expect(time.pending()).toBe(0);
    });

    it('counts the wait in the timeout of the run that follows it (here on the primary, after maxReplicaWait)', async () => {
      const short = new AccessBroker(pair.target({ maxReplicaWait: 80, maxReplicaLag: 600_000 }));
      const holder = new Client({ connectionString: pair.primary.url });
      try {
        await short.waitUntilRunning();
        short.events$.subscribe((e) => events.push(e));
        await short.query('INSERT INTO t VALUES (2)');
        events.length = 0;
        // A read that cannot finish on the primary: it waits for the table, which this session holds
        // locked in a transaction (rolled back in finally), until its timeout cancels it.
        await holder.connect();
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE t IN ACCESS EXCLUSIVE MODE');
        const read = outcome(short.query('SELECT count(*), pg_is_in_recovery() FROM t', [], { timeout: 100 }));
        await until(() => waitingReads() === 1, 'the read waits for the replica');
        // The wait gives up at 80 ms: the read runs on the primary, with 20 ms of its timeout left.
        await time.advance(80);
        await until(() => events.some((e) => e.type === 'started'), 'the read started on the primary');
        expect(events.map((e) => [e.type, e.server])).toEqual([
          ['queued', 'primary'],
          ['started', 'primary'],
        ]);
        await time.advance(99 - time.now);
        expect(read.value).toBe('pending');
        await time.advance(1);
        await until(() => read.value !== 'pending', 'the read timed out');
        expect(read.value).toBeInstanceOf(TimeoutError);
        expect(read.value).toMatchObject({ timeout: 100 });
        expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'cancelled']);
        // Its statement is interrupted and rolled back (real time): the grace period's timer goes then.
        await until(() => time.pending() === 0, 'the rollback is done');
      } finally {
        await holder.end();
        await short.shutdown();
      }
    });
  },
);
