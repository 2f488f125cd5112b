import 'reflect-metadata';
import { lastValueFrom, toArray } from 'rxjs';
import {
  Column,
  Entity,
  EventSubscriber,
  PrimaryColumn,
  type EntitySubscriberInterface,
  type LoadEvent,
  type Repository,
} from 'typeorm';
import { AccessBroker, type RowStream } from '../../lib';
import { pgClusterAvailable } from '../support/pg-cluster';
import { until } from '../support/streams';
import { createReplicaPair, type ReplicaPair } from './replica-set';

const APP = 'qb-streams-replica';

@Entity('qb_notes')
class QbNote {
  @PrimaryColumn('integer') id!: number;
  @Column('text') body!: string;
}

/** Where each afterLoad subscriber call's query ran (true: the replica), when `asking`. */
const seen = { asking: false, where: [] as boolean[] };

@EventSubscriber()
class WhereLoaded implements EntitySubscriberInterface<QbNote> {
  listenTo() {
    return QbNote;
  }

  async afterLoad(_note: QbNote, event: LoadEvent<QbNote>): Promise<void> {
    if (!seen.asking) return;
    const [row] = (await event.manager.query('SELECT pg_is_in_recovery() AS replica')) as { replica: boolean }[];
    seen.where.push(row!.replica);
  }
}

/** The ids a stream gives, in order. */
async function ids(stream: RowStream<{ id: number }>): Promise<number[]> {
  return (await lastValueFrom(stream.pipe(toArray()))).map((n) => n.id);
}

/** The replica's sessions of the broker that are in a transaction or running a statement. */
async function busyOnReplica(pair: ReplicaPair): Promise<number> {
  const rows = await pair.replica.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
    [APP],
  );
  return rows[0]!.n;
}

(pgClusterAvailable ? describe : describe.skip)('replicated target: QueryBuilder streams [postgres]', () => {
  let pair: ReplicaPair;
  let broker: AccessBroker;
  let notes: Repository<QbNote>;
  beforeAll(async () => {
    pair = await createReplicaPair();
    // The primary knows the entities; the replica is a bare URL (its DataSource has no metadata).
    broker = new AccessBroker({
      primary: { type: 'postgres', url: pair.primary.url, entities: [QbNote], subscribers: [WhereLoaded] },
      replicas: [`${pair.replica.url}?application_name=${APP}`],
      maxReplicaWait: 200,
    });
    await broker.waitUntilRunning();
    await broker.query('CREATE TABLE qb_notes (id integer PRIMARY KEY, body text NOT NULL)');
    await broker.query("INSERT INTO qb_notes SELECT g, 'n' || g FROM generate_series(1, 300) g");
    notes = broker.dataSource.getRepository(QbNote);
  });
  afterAll(async () => {
    await pair?.replica.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    await broker?.shutdown();
    await pair?.remove();
  });

  it('reads raw rows of a QueryBuilder on the replica, and on the primary with { route: "primary" }', async () => {
    const qb = () => notes.createQueryBuilder('n').select('n.id', 'id').addSelect('pg_is_in_recovery()', 'replica');
    const onReplica = await lastValueFrom(broker.stream(qb().where('n.id <= 3')).pipe(toArray()));
    expect(onReplica).toEqual([1, 2, 3].map((id) => ({ id, replica: true })));
    const onPrimary = await lastValueFrom(broker.stream(qb().where('n.id <= 2'), { route: 'primary' }).pipe(toArray()));
    expect(onPrimary).toEqual([1, 2].map((id) => ({ id, replica: false })));
    expect(() => broker.stream(qb(), { route: 'nowhere' as 'primary' })).toThrow(RangeError);
  });

  it("hydrates entities read on the replica with the primary's metadata; never stale after the broker's own write", async () => {
    const qb = () => notes.createQueryBuilder('n').where('n.id > 290').orderBy('n.id');
    await until(
      async () => (await pair.replica.query('SELECT 1 FROM qb_notes WHERE id = 300')).length === 1,
      'the replica has the rows',
    );
    // Replay paused: the replica stays where it is. A write made outside the broker (not tracked) is then only on the
    // primary, which tells where a stream read.
    await pair.replica.query('SELECT pg_wal_replay_pause()');
    try {
      await pair.primary.query("INSERT INTO qb_notes VALUES (1001, 'outside')");
      const replica = await lastValueFrom(broker.stream(qb(), { entities: true, batchSize: 4 }).pipe(toArray()));
      expect(replica.every((n) => n instanceof QbNote)).toBe(true);
      expect(replica.map((n) => n.id)).toEqual([291, 292, 293, 294, 295, 296, 297, 298, 299, 300]);
      expect(await ids(broker.stream(qb(), { entities: true, route: 'primary' }))).toContain(1001);
      // The broker's own write: the replica has not replayed it, so after maxReplicaWait the stream reads the primary.
      await broker.query("INSERT INTO qb_notes VALUES (1002, 'own')");
      const own = await lastValueFrom(broker.stream(qb(), { entities: true }).pipe(toArray()));
      expect(own.find((n) => n.id === 1002)).toEqual(Object.assign(new QbNote(), { id: 1002, body: 'own' }));
    } finally {
      await pair.replica.query('SELECT pg_wal_replay_resume()');
    }
    // Replayed: the replica serves the stream again, and has both rows.
    await until(
      async () => (await pair.replica.query('SELECT 1 FROM qb_notes WHERE id = 1002')).length === 1,
      'the replica has replayed the write',
    );
    const rows = await lastValueFrom(
      broker
        .stream(
          notes
            .createQueryBuilder('n')
            .select('n.id', 'id')
            .addSelect('pg_is_in_recovery()', 'replica')
            .where('n.id > 1000'),
        )
        .pipe(toArray()),
    );
    expect(rows).toEqual([
      { id: 1001, replica: true },
      { id: 1002, replica: true },
    ]);
  });

  it('joins a transaction, seeing its uncommitted write, and read-only work on the replica', async () => {
    const inTx = await broker.transact(async (tx) => {
      await tx.query("INSERT INTO qb_notes VALUES (2001, 'uncommitted')");
      return ids(broker.stream(notes.createQueryBuilder('n').where('n.id = 2001'), { entities: true }));
    });
    expect(inTx).toEqual([2001]);
    const where = await broker.transact(
      async () =>
        lastValueFrom(
          broker
            .stream(notes.createQueryBuilder('n').select('pg_is_in_recovery()', 'replica').where('n.id = 1'))
            .pipe(toArray()),
        ),
      { readOnly: true },
    );
    expect(where).toEqual([{ replica: true }]);
  });

  it('runs afterLoad subscribers on the primary (its DataSource has them), also for a stream in read-only work on the replica', async () => {
    const qb = () => notes.createQueryBuilder('n').where('n.id <= 3').orderBy('n.id');
    seen.asking = true;
    try {
      seen.where = [];
      expect(await ids(broker.stream(qb(), { entities: true }))).toEqual([1, 2, 3]);
      expect(seen.where).toEqual([false, false, false]);
      seen.where = [];
      await broker.transact(() => ids(broker.stream(qb(), { entities: true })), { readOnly: true });
      expect(seen.where).toEqual([false, false, false]);
      // In a transaction on the primary, inside it: they see its uncommitted write.
      seen.where = [];
      await broker
        .transact(async (tx) => {
          await tx.query("INSERT INTO qb_notes VALUES (0, 'zero')");
          expect(await ids(broker.stream(qb(), { entities: true }))).toEqual([0, 1, 2, 3]);
          throw new Error('rolled back');
        })
        .catch((err: unknown) => expect((err as Error).message).toMatch(/rolled back/));
      expect(seen.where).toEqual([false, false, false, false]);
    } finally {
      seen.asking = false;
    }
  });

  it('streams entities on the replica with backpressure, and gives its connection back', async () => {
    let handled = 0;
    for await (const note of broker.stream(notes.createQueryBuilder('n').orderBy('n.id'), {
      entities: true,
      batchSize: 50,
    })) {
      expect(note).toBeInstanceOf(QbNote);
      // Its cursor's read-only transaction is open on the replica meanwhile.
      if (handled === 60) expect(await busyOnReplica(pair)).toBe(1);
      if (++handled === 120) break;
    }
    await until(async () => (await busyOnReplica(pair)) === 0, 'no session of the broker is busy on the replica');
  });
});
