import { lastValueFrom, toArray } from 'rxjs';
import { AccessBroker, type TransactionEvent } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { createReplicaPair, WHERE, type ReplicaPair } from './replica-set';

/** Every event `b` emits from now on. */
function record(b: AccessBroker): { readonly events: TransactionEvent[]; stop(): void } {
  const events: TransactionEvent[] = [];
  const subscription = b.events$.subscribe((e) => events.push(e));
  return { events, stop: () => subscription.unsubscribe() };
}

/** One event as `[type, server, replica, fallbackOf]`, to compare runs at a glance. */
const where = (e: TransactionEvent) => [e.type, e.server, e.replica, e.fallbackOf];

(pgClusterAvailable ? describe : describe.skip)('replicated target: events$ [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  beforeAll(async () => {
    pair = await createReplicaPair();
    broker = new AccessBroker(pair.target());
    await broker.waitUntilRunning();
    await broker.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)');
  });
  afterAll(async () => {
    await broker?.shutdown();
    await pair?.remove();
  });

  it('shows a read run on the replica, naming it, and a write on the primary', async () => {
    const log = record(broker);
    const [read] = await broker.query<{ replica: boolean }>(WHERE);
    expect(read!.replica).toBe(true);
    await broker.query("INSERT INTO notes (body) VALUES ('a')");
    log.stop();
    const [first, , , second] = log.events;
    expect(log.events.map(where)).toEqual([
      ['queued', 'replica', 0, undefined],
      ['started', 'replica', 0, undefined],
      ['committed', 'replica', 0, undefined],
      ['queued', 'primary', undefined, undefined],
      ['started', 'primary', undefined, undefined],
      ['committed', 'primary', undefined, undefined],
    ]);
    expect(first).toMatchObject({ method: 'query', kind: 'statement' });
    expect(second).toMatchObject({ method: 'query', kind: 'statement' });
    expect(first!.id).not.toBe(second!.id);
  });

  it('shows read-only work run on the replica, and a prepared read there', async () => {
    const log = record(broker);
    const ro = await broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean, {
      readOnly: true,
      name: 'readOnlyWork',
    });
    expect(ro).toBe(true);
    const find = broker.prepare<{ replica: boolean }>('where_am_i', WHERE);
    expect(await find.query()).toEqual([{ replica: true }]);
    log.stop();
    expect(log.events.map((e) => [e.method, e.kind, ...where(e)])).toEqual([
      ['readOnlyWork', 'transaction', 'queued', 'replica', 0, undefined],
      ['readOnlyWork', 'transaction', 'started', 'replica', 0, undefined],
      ['readOnlyWork', 'transaction', 'committed', 'replica', 0, undefined],
      ['where_am_i', 'statement', 'queued', 'replica', 0, undefined],
      ['where_am_i', 'statement', 'started', 'replica', 0, undefined],
      ['where_am_i', 'statement', 'committed', 'replica', 0, undefined],
    ]);
  });

  it('sends no events for a stream, on the replica as on the primary (row streams have none)', async () => {
    const log = record(broker);
    const rows = await lastValueFrom(broker.stream<{ replica: boolean }>(WHERE).pipe(toArray()));
    expect(rows).toEqual([{ replica: true }]);
    log.stop();
    expect(log.events).toEqual([]);
  });

  it('shows a write the replica refused as a run there that failed, then a run on the primary that names it', async () => {
    const log = record(broker);
    const [row] = await broker.query<{ replica: boolean }>(
      "WITH w AS (INSERT INTO notes (body) VALUES ('moved') RETURNING id) SELECT pg_is_in_recovery() AS replica FROM w",
      [],
      { route: 'replica' },
    );
    expect(row!.replica).toBe(false);
    log.stop();
    const failed = log.events[0]!;
    expect(log.events.map(where)).toEqual([
      ['queued', 'replica', 0, undefined],
      ['started', 'replica', 0, undefined],
      ['rolledBack', 'replica', 0, undefined],
      ['queued', 'primary', undefined, failed.id],
      ['started', 'primary', undefined, failed.id],
      ['committed', 'primary', undefined, failed.id],
    ]);
    const rolledBack = log.events[2]!;
    expect(rolledBack.id).toBe(failed.id);
    // The replica's own refusal (read-only transaction, 25006), which the caller never got.
    expect(rolledBack.type === 'rolledBack' && rolledBack.error).toMatchObject({ code: '25006' });
    expect(log.events[3]!.id).not.toBe(failed.id);
  });

  it('shows read-only work that lost the replica as a run there that failed, then a run on the primary that names it', async () => {
    // Known to have replayed every commit (a read ran there): the next read goes there without a poll.
    const [before] = await broker.query<{ replica: boolean }>(WHERE);
    expect(before!.replica).toBe(true);
    // The replica goes (its pooled connections with it): the read there fails for a connection reason.
    await pair.replica.stop({ mode: 'immediate' });
    try {
      const log = record(broker);
      const ro = await broker.transact(async (tx) => (await tx.query(WHERE))[0].replica as boolean, {
        readOnly: true,
        name: 'lostReplica',
      });
      expect(ro).toBe(false);
      log.stop();
      const failed = log.events[0]!;
      const handOver = log.events.findIndex((e) => e.server === 'primary');
      const onReplica = log.events.slice(0, handOver);
      expect(onReplica.every((e) => e.id === failed.id && e.server === 'replica' && e.replica === 0)).toBe(true);
      expect(onReplica.map((e) => e.type)[0]).toBe('queued');
      expect(onReplica.at(-1)!.type).toBe('rolledBack');
      expect(log.events.slice(handOver).map((e) => [e.method, ...where(e)])).toEqual([
        ['lostReplica', 'queued', 'primary', undefined, failed.id],
        ['lostReplica', 'started', 'primary', undefined, failed.id],
        ['lostReplica', 'committed', 'primary', undefined, failed.id],
      ]);
    } finally {
      await pair.replica.start();
    }
  });
});
