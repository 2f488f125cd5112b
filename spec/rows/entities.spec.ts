import 'reflect-metadata';
import { lastValueFrom, take, toArray } from 'rxjs';
import {
  AfterLoad,
  Column,
  Entity,
  EventSubscriber,
  type EntitySubscriberInterface,
  type LoadEvent,
  ManyToOne,
  OneToMany,
  PrimaryColumn,
  type DataSourceOptions,
  type Repository,
  type SelectQueryBuilder,
} from 'typeorm';
import { resolveTarget } from '../../lib';
import { entityReader } from '../../lib/dialect/typeorm/entity-hydration';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from '../support/brokers';
import {
  busySessions,
  expectStreamsReleased,
  namedTarget,
  readCounter,
  settle,
  until,
  within,
} from '../support/streams';
import { allTargets, sqliteMemory, type TestTarget } from '../support/targets';

const SUFFIX = `${process.pid}_${Math.random().toString(36).slice(2, 6)}`;

/** How many entities TypeORM hydrated (each runs its @AfterLoad once): what a stream holds, read ahead. */
let hydrated = { notes: 0 };

@Entity(`ent_authors_${SUFFIX}`)
class Author {
  @PrimaryColumn('integer') id!: number;
  @Column('varchar', { length: 40 }) name!: string;
}

@Entity(`ent_notes_${SUFFIX}`)
class Note {
  @PrimaryColumn('integer') id!: number;
  @Column('varchar', { length: 40 }) title!: string;
  @ManyToOne(() => Author, { nullable: true }) author!: Author | null;
  @OneToMany(() => Tag, (tag) => tag.note) tags!: Tag[];
  /** Set by @AfterLoad: the stream runs TypeORM's Load event, as getMany() does. */
  loaded?: boolean;

  @AfterLoad()
  markLoaded(): void {
    this.loaded = true;
    hydrated.notes++;
  }
}

/**
 * What NoteWatcher, an afterLoad subscriber, saw; `count` set: it counts the
 * notes through its event's manager; `select` set: it runs `SELECT 1` on it.
 */
const watched = { count: false, select: false, loads: 0, counts: [] as number[], selects: 0 };

@EventSubscriber()
class NoteWatcher implements EntitySubscriberInterface<Note> {
  listenTo() {
    return Note;
  }

  async afterLoad(_note: Note, event: LoadEvent<Note>): Promise<void> {
    watched.loads++;
    if (watched.count) watched.counts.push(await event.manager.count(Note));
    if (watched.select) {
      await event.manager.query('SELECT 1 AS one');
      watched.selects++;
    }
  }
}

@Entity(`ent_tags_${SUFFIX}`)
class Tag {
  @PrimaryColumn('integer') id!: number;
  @Column('varchar', { length: 40 }) label!: string;
  @ManyToOne(() => Note, (note) => note.tags) note!: Note;
}

const NOTES = 120;
/** Note i has i % 4 tags (none for a quarter) and an author unless i % 6 == 0: ~210 raw rows with the tags joined. */
const tagsOf = (i: number) => i % 4;
const RAW_ROWS = Array.from({ length: NOTES }, (_, i) => Math.max(1, tagsOf(i + 1))).reduce((a, b) => a + b, 0);

async function fill(b: ItemsBroker): Promise<void> {
  await lastValueFrom(
    b.transact(async (tx) => {
      await tx.insert(
        Author,
        Array.from({ length: 5 }, (_, i) => ({ id: i + 1, name: `author ${i + 1}` })),
      );
      const notes = Array.from({ length: NOTES }, (_, k) => {
        const i = k + 1;
        return { id: i, title: `title ${i % 10}`, author: i % 6 === 0 ? null : { id: (i % 5) + 1 } };
      });
      await tx.insert(Note, notes);
      let id = 0;
      const tags = notes.flatMap((note) =>
        Array.from({ length: tagsOf(note.id) }, (_, k) => ({
          id: ++id,
          label: `tag ${note.id}.${k}`,
          note: { id: note.id },
        })),
      );
      await tx.insert(Tag, tags);
    }),
  );
}

/** A broker whose DataSource knows the entities (its tables made by TypeORM), filled, then dropped. */
function withNotes(
  t: TestTarget,
  appName: string,
  fn: (b: ItemsBroker, notes: Repository<Note>) => Promise<void>,
  more: Partial<DataSourceOptions> = {},
) {
  const named = namedTarget(t, appName);
  const options = {
    ...(typeof named === 'string' ? resolveTarget(named).options : named),
    ...more,
    entities: [Author, Note, Tag],
    subscribers: [NoteWatcher],
    synchronize: true,
  } as DataSourceOptions;
  return withItems(
    t,
    async (b) => {
      hydrated = { notes: 0 };
      Object.assign(watched, { count: false, select: false, loads: 0, counts: [], selects: 0 });
      try {
        await fill(b);
        await fn(b, b.dataSource.getRepository(Note));
      } finally {
        await b.drain();
        for (const entity of [Tag, Note, Author]) {
          await lastValueFrom(b.query(`DROP TABLE IF EXISTS "${b.dataSource.getMetadata(entity).tableName}"`));
        }
      }
    },
    options,
  );
}

/** Notes with their author (to-one) and tags (to-many), in a stable order. */
const joined = (notes: Repository<Note>): SelectQueryBuilder<Note> =>
  notes
    .createQueryBuilder('n')
    .leftJoinAndSelect('n.author', 'a')
    .leftJoinAndSelect('n.tags', 't')
    .orderBy('n.id')
    .addOrderBy('t.id');

/** Every note hydrated as TypeORM's entity classes, with its relations. */
function expectEntities(notes: Note[]): void {
  for (const note of notes) {
    expect(note).toBeInstanceOf(Note);
    expect(note.loaded).toBe(true);
    // Undefined where the author is not joined; compared with getMany() where it is.
    if (note.author) expect(note.author).toBeInstanceOf(Author);
    for (const tag of note.tags) expect(tag).toBeInstanceOf(Tag);
  }
}

/**
 * An entity stream outside a transaction whose afterLoad subscriber queries
 * on its event's manager reads to the end (bounded: a query waiting for the
 * slot or connection the stream holds hangs, and fails here); between
 * batches, unless the stream holds the one connection, the broker serves a
 * query of the consumer's.
 */
async function expectQueryingAfterLoadServed(
  b: ItemsBroker,
  notes: Repository<Note>,
  oneConnection: boolean,
): Promise<void> {
  watched.select = true;
  const qb = () => notes.createQueryBuilder('n').orderBy('n.id');
  const all = await within(
    lastValueFrom(b.stream(qb(), { entities: true, batchSize: 7 }).pipe(toArray())),
    'an entity stream whose afterLoad queries',
  );
  expect(all.map((n) => n.id)).toEqual(Array.from({ length: NOTES }, (_, i) => i + 1));
  expect(watched.selects).toBe(NOTES);
  let sum = 0;
  await within(
    (async () => {
      for await (const note of b.stream(qb().where('n.id <= 6'), { entities: true, batchSize: 2 })) {
        // On one connection the stream holds it: a query here would wait for the stream's end (see README).
        if (!oneConnection) await lastValueFrom(b.query('SELECT 1 AS one'));
        sum += note.id;
      }
    })(),
    'a loop over an entity stream whose afterLoad queries',
  );
  expect(sum).toBe(21);
  expect(watched.selects).toBe(NOTES + 6);
}

describe.each(allTargets)('stream(queryBuilder, { entities: true }) [$name]', (t) => {
  const appName = `sasync-rows-entities-${process.pid}`;

  it('yields the entities getMany() gives, to-one and to-many relations joined, across many batches', () =>
    withNotes(t, appName, async (b, notes) => {
      const expected = await joined(notes).getMany();
      expect(expected).toHaveLength(NOTES);
      expect(expected.some((n) => n.tags.length === 3) && expected.some((n) => n.author === null)).toBe(true);
      for (const batchSize of [1, 7, 500]) {
        const read = readCounter();
        const streamed = await lastValueFrom(
          b.stream(joined(notes), { entities: true, batchSize, onBatch: read.onBatch }).pipe(toArray()),
        );
        expect(streamed).toStrictEqual(expected);
        expectEntities(streamed);
        // Several raw rows per entity: batches hold fewer entities than raw rows read.
        if (batchSize === 7) expect(read.batches).toBeGreaterThanOrEqual(Math.floor(RAW_ROWS / 7) - 1);
      }
      await expectStreamsReleased(b, t, appName);
    }));

  it('never splits or repeats an entity across batches', () =>
    withNotes(t, appName, async (b, notes) => {
      const batches = await lastValueFrom(
        b.stream(joined(notes), { entities: true, batchSize: 5 }).batches().pipe(toArray()),
      );
      expect(batches.length).toBeGreaterThan(10);
      const ids = batches.flat().map((n) => n.id);
      expect(ids).toEqual(Array.from({ length: NOTES }, (_, i) => i + 1));
      for (const note of batches.flat()) expect(note.tags).toHaveLength(tagsOf(note.id));
    }));

  it('gives entities to for await, batches(), subscribe, consume() and toReadable()', () =>
    withNotes(t, appName, async (b, notes) => {
      const expected = await joined(notes).getMany();
      const stream = b.stream(joined(notes), { entities: true, batchSize: 9 });
      const iterated: Note[] = [];
      for await (const note of stream) iterated.push(note);
      const batched: Note[] = [];
      for await (const batch of stream.batches()) batched.push(...batch);
      const subscribed = await lastValueFrom(stream.pipe(toArray()));
      const consumed: Note[] = [];
      await stream.consume((note) => void consumed.push(note));
      const piped: Note[] = [];
      for await (const note of stream.toReadable()) piped.push(note as Note);
      for (const got of [iterated, batched, subscribed, consumed, piped]) {
        expect(got).toStrictEqual(expected);
        expectEntities(got);
      }
    }));

  it('orders by the primary key itself when a to-many join has no order, leaving the caller’s builder as it was', () =>
    withNotes(t, appName, async (b, notes) => {
      const qb = notes.createQueryBuilder('n').leftJoinAndSelect('n.tags', 't');
      const sql = qb.getQuery();
      const streamed = await lastValueFrom(b.stream(qb, { entities: true, batchSize: 4 }).pipe(toArray()));
      expect(qb.getQuery()).toBe(sql);
      expect(sql).not.toMatch(/ORDER BY/);
      // The order is in the SQL the stream runs, not left to the plan the database happens to choose.
      expect(entityReader(qb).sql).toMatch(/ORDER BY "n"\."id" ASC$/);
      expect(streamed.map((n) => n.id)).toEqual(Array.from({ length: NOTES }, (_, i) => i + 1));
      // Tags within a note come in no particular order: compare them as sets.
      const shape = (n: Note) => ({ id: n.id, title: n.title, tags: n.tags.map((tag) => tag.label).sort() });
      const expected = await notes.createQueryBuilder('n').leftJoinAndSelect('n.tags', 't').orderBy('n.id').getMany();
      expect(streamed.map(shape)).toEqual(expected.map(shape));
      expect(streamed.every((n) => n instanceof Note && n.tags.every((tag) => tag instanceof Tag))).toBe(true);
    }));

  it('takes an order by other columns of the main alias before its primary key', () =>
    withNotes(t, appName, async (b, notes) => {
      const qb = () =>
        notes
          .createQueryBuilder('n')
          .leftJoinAndSelect('n.tags', 't')
          .orderBy('n.title', 'DESC')
          .addOrderBy('n.id')
          .addOrderBy('t.id');
      const expected = await qb().getMany();
      expect(expected[0]!.title).toBe('title 9');
      const streamed = await lastValueFrom(b.stream(qb(), { entities: true, batchSize: 6 }).pipe(toArray()));
      expect(streamed).toStrictEqual(expected);
    }));

  it('takes any order when every join is to-one (one raw row per entity)', () =>
    withNotes(t, appName, async (b, notes) => {
      const qb = () =>
        notes.createQueryBuilder('n').leftJoinAndSelect('n.author', 'a').orderBy('a.name').addOrderBy('n.id', 'DESC');
      const expected = await qb().getMany();
      const streamed = await lastValueFrom(b.stream(qb(), { entities: true, batchSize: 8 }).pipe(toArray()));
      expect(streamed).toStrictEqual(expected);
      expect(streamed.every((n) => n instanceof Note && (n.author === null || n.author instanceof Author))).toBe(true);
    }));

  it('selects the primary key a partial select leaves out, as getMany() does', () =>
    withNotes(t, appName, async (b, notes) => {
      const qb = () =>
        notes
          .createQueryBuilder('n')
          .select(['n.title'])
          .leftJoinAndSelect('n.tags', 't')
          .orderBy('n.id')
          .addOrderBy('t.id');
      const expected = await qb().getMany();
      // The key is read to group the rows, then left out of the entity (TypeORM's virtual column).
      expect(expected[0]).toMatchObject({ id: undefined, title: 'title 1', tags: [{ label: 'tag 1.0' }] });
      const streamed = await lastValueFrom(b.stream(qb(), { entities: true, batchSize: 3 }).pipe(toArray()));
      expect(streamed).toStrictEqual(expected);
      expect(streamed).toHaveLength(NOTES);
    }));

  it('refuses, at once, an order that would split an entity of a to-many join', () =>
    withNotes(t, appName, async (b, notes) => {
      const byTag = notes.createQueryBuilder('n').leftJoinAndSelect('n.tags', 't').orderBy('t.label');
      expect(() => b.stream(byTag, { entities: true })).toThrow(TypeError);
      expect(() => b.stream(byTag, { entities: true })).toThrow(/order by n\.id first/);
      const titleOnly = notes.createQueryBuilder('n').leftJoinAndSelect('n.tags', 't').orderBy('n.title');
      expect(() => b.stream(titleOnly, { entities: true })).toThrow(/order by n\.id first/);
      // Raw rows need no such order.
      expect(await lastValueFrom(b.stream(byTag).pipe(toArray()))).toHaveLength(RAW_ROWS);
      await expectStreamsReleased(b, t, appName);
    }));

  it('reads entities inside a transaction, on its connection, seeing its writes', () =>
    withNotes(t, appName, async (b) => {
      const seen = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.insert(Note, { id: NOTES + 1, title: 'written in the transaction', author: null });
          const found: Note[] = [];
          const qb = tx
            .getRepository(Note)
            .createQueryBuilder('n')
            .leftJoinAndSelect('n.tags', 't')
            .where('n.id > :min', { min: 100 });
          for await (const note of b.stream(qb, { entities: true, batchSize: 3 })) {
            found.push(note);
            // The transaction writes between batches (its own connection is not held by the stream).
            await tx.update(Note, { id: note.id }, { title: `seen ${note.id}` });
          }
          return found;
        }),
      );
      expect(seen.map((n) => n.id)).toEqual(Array.from({ length: NOTES - 99 }, (_, i) => i + 101));
      expect(seen.at(-1)!.title).toBe('written in the transaction');
      expectEntities(seen);
      const updated = await b.dataSource.getRepository(Note).findOneByOrFail({ id: NOTES + 1 });
      expect(updated.title).toBe(`seen ${NOTES + 1}`);
    }));

  it('runs afterLoad subscribers, whose event manager is the transaction’s inside one', () =>
    withNotes(t, appName, async (b, notes) => {
      await lastValueFrom(b.stream(joined(notes), { entities: true, batchSize: 50 }).pipe(toArray()));
      expect(watched.loads).toBe(NOTES);
      watched.count = true;
      const ids = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.insert(Note, { id: NOTES + 1, title: 'uncommitted', author: null });
          const qb = tx
            .getRepository(Note)
            .createQueryBuilder('n')
            .where('n.id > :min', { min: NOTES - 2 });
          const found: number[] = [];
          for await (const note of b.stream(qb, { entities: true, batchSize: 2 })) found.push(note.id);
          return found;
        }),
      );
      expect(ids).toEqual([NOTES - 1, NOTES, NOTES + 1]);
      // Counted inside the transaction: the uncommitted note is there.
      expect(watched.counts).toEqual([NOTES + 1, NOTES + 1, NOTES + 1]);
    }));

  it('runs afterLoad subscribers that query, outside a transaction, without waiting for the slot the stream holds', () =>
    withNotes(t, appName, async (b, notes) => {
      await expectQueryingAfterLoadServed(b, notes, t.name === 'sqlite-memory');
      await expectStreamsReleased(b, t, appName);
    }));

  it('a transaction’s work may return an entity stream: its entities are the values', () =>
    withNotes(t, appName, async (b) => {
      const values = await lastValueFrom(
        b
          .transact((tx) =>
            b.stream(tx.getRepository(Note).createQueryBuilder('n').leftJoinAndSelect('n.tags', 't'), {
              entities: true,
              batchSize: 4,
            }),
          )
          .pipe(toArray()),
      );
      expect(values).toHaveLength(NOTES);
      expectEntities(values as Note[]);
    }));

  it('holds no more than a batch or two of entities ahead of a paused consumer', () =>
    withNotes(t, appName, async (b, notes) => {
      const batchSize = 10;
      const paused = latch();
      const first = latch();
      const reading = (async () => {
        let n = 0;
        for await (const _note of b.stream(joined(notes), { entities: true, batchSize })) {
          if (++n === 1) {
            first.resolve();
            await paused.promise;
          }
        }
        return n;
      })();
      await first.promise;
      const before = hydrated.notes;
      await settle(b);
      // A batch of 10 raw rows holds at most 10 entities: one batch hydrated, none read ahead.
      expect(hydrated.notes).toBe(before);
      expect(hydrated.notes).toBeLessThanOrEqual(batchSize);
      paused.resolve();
      expect(await reading).toBe(NOTES);
    }));

  it('gives back its connection when left early: break, take(n), an error in the loop', () =>
    withNotes(t, appName, async (b, notes) => {
      for await (const note of b.stream(joined(notes), { entities: true, batchSize: 4 })) {
        if (note.id === 3) break;
      }
      const two = await lastValueFrom(
        b.stream(joined(notes), { entities: true, batchSize: 4 }).pipe(take(2), toArray()),
      );
      expect(two.map((n) => n.id)).toEqual([1, 2]);
      const failed = await (async () => {
        for await (const _note of b.stream(joined(notes), { entities: true })) throw new Error('consumer failed');
      })().catch((e: unknown) => e);
      expect((failed as Error).message).toBe('consumer failed');
      await expectStreamsReleased(b, t, appName);
    }));

  it('refuses bad input at once, and the broker keeps serving', () =>
    withNotes(t, appName, async (b, notes) => {
      const entities = { entities: true } as never;
      expect(() => b.stream('SELECT 1 AS one', [], entities)).toThrow(TypeError);
      expect(() => b.stream('SELECT 1 AS one', [], entities)).toThrow(/needs a TypeORM SelectQueryBuilder/);
      expect(() => b.prepare('one', 'SELECT 1 AS one').stream([], entities)).toThrow(
        /needs a TypeORM SelectQueryBuilder/,
      );
      expect(() => b.stream(notes.createQueryBuilder('n'), { entities: 'yes' as never })).toThrow(
        /entities must be true or false, not "yes"/,
      );
      const byTable = b.dataSource.createQueryBuilder().select('i.name', 'name').from(b.itemsTable, 'i');
      expect(() => b.stream(byTable, { entities: true })).toThrow(/needs a QueryBuilder on an entity/);
      const counted = notes.createQueryBuilder('n').loadRelationCountAndMap('n.tagCount', 'n.tags');
      expect(() => b.stream(counted, { entities: true })).toThrow(/cannot load relation ids or counts/);
      expect(() => b.stream(joined(notes), { entities: true, key: 'n_id' })).toThrow(/leave key out/);
      const paged = joined(notes).take(10);
      expect(() => b.stream(paged, { entities: true })).toThrow(/cannot page with skip\(\) or take\(\) over joins/);
      // Raw rows too: TypeORM's SQL for skip/take over joins has no LIMIT, so every row would be read.
      expect(() => b.stream(paged)).toThrow(/cannot page raw rows with skip\(\) or take\(\) over joins/);
      expect(() => b.stream(joined(notes).skip(5))).toThrow(
        /use limit\(\) and offset\(\)|page the rows with limit\(\)/,
      );
      // limit() over joins pages rows, in the SQL: raw rows get exactly that many.
      const limited = await lastValueFrom(b.stream(joined(notes).limit(3)).pipe(toArray()));
      expect(limited).toHaveLength(3);
      // Paging without joins is plain LIMIT: fine.
      const firstTen = await lastValueFrom(
        b.stream(notes.createQueryBuilder('n').orderBy('n.id').take(10), { entities: true }).pipe(toArray()),
      );
      expect(firstTen.map((n) => n.id)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
      const all = await lastValueFrom(b.stream(joined(notes), { entities: true }).pipe(toArray()));
      expect(all).toHaveLength(NOTES);
      await expectStreamsReleased(b, t, appName);
    }));

  it('reads key given as a property of the main alias by its raw column, and refuses at once one the rows lack', () =>
    withNotes(t, appName, async (b, notes) => {
      const byId = () => notes.createQueryBuilder('n').leftJoinAndSelect('n.author', 'a').orderBy('n.id');
      const expected = await byId().getMany();
      for (const key of ['id', 'n.id', 'n_id']) {
        const streamed = await lastValueFrom(b.stream(byId(), { entities: true, key, batchSize: 7 }).pipe(toArray()));
        expect(streamed).toStrictEqual(expected);
      }
      expect(() => b.stream(byId(), { entities: true, key: 'rank' })).toThrow(TypeError);
      expect(() => b.stream(byId(), { entities: true, key: 'rank' })).toThrow(
        /Note has no column "rank": pass a column of n \(Note\) by property or raw name, as 'id' or 'n_id'/,
      );
      const idOnly = notes.createQueryBuilder('n').select(['n.id']).orderBy('n.id');
      expect(() => b.stream(idOnly, { entities: true, key: 'title' })).toThrow(
        /n\.title is not selected by this QueryBuilder, so the rows have no n_title/,
      );
      // The alias of an addSelect is a column of the raw rows too.
      const ranked = byId().addSelect('n.id * 2', 'rank');
      const byRank = await lastValueFrom(b.stream(ranked, { entities: true, key: 'rank' }).pipe(toArray()));
      expect(byRank).toStrictEqual(expected);
      await expectStreamsReleased(b, t, appName);
    }));

  it('streams raw rows, typed as raw rows, without entities', () =>
    withNotes(t, appName, async (b, notes) => {
      const raw = b.stream(notes.createQueryBuilder('n').orderBy('n.id'));
      const rows = await lastValueFrom(raw.pipe(toArray()));
      expect(rows[0]).toMatchObject({ n_id: 1, n_title: 'title 1' });
      expect(rows[0]).not.toBeInstanceOf(Note);
    }));
});

describe.each(allTargets.filter((t) => t.dialect === 'postgres'))(
  'stream(queryBuilder, { entities: true }) on a pool of 2 [$name]',
  (t) => {
    const appName = `sasync-rows-entities-2-${process.pid}`;

    it('runs a querying afterLoad and a transaction per entity in the loop, with one connection for each', () =>
      withNotes(
        t,
        appName,
        async (b, notes) => {
          watched.select = true;
          const seen: number[] = [];
          await within(
            (async () => {
              const qb = notes.createQueryBuilder('n').where('n.id <= 5').orderBy('n.id');
              for await (const note of b.stream(qb, { entities: true, batchSize: 1 })) {
                await lastValueFrom(b.transact(async (tx) => void (await tx.query('SELECT 1 AS one'))));
                seen.push(note.id);
              }
            })(),
            'a loop of transactions over an entity stream whose afterLoad queries, on a pool of 2',
          );
          expect(seen).toEqual([1, 2, 3, 4, 5]);
          expect(watched.selects).toBe(5);
          // Both connections back in the pool, none of them left in a transaction.
          await b.drain();
          await until(() => b.connectionStats().idle === b.connectionStats().open, 'the pool is whole');
          expectPoolWhole(b);
          expect(b.connectionStats().max).toBe(2);
          expect(await busySessions(b, appName)).toBe(0);
        },
        { extra: { max: 2 } } as Partial<DataSourceOptions>,
      ));
  },
);

describe.each(allTargets.filter((t) => t.name === 'sqlite-file'))(
  'stream(queryBuilder, { entities: true }) on a file not in WAL mode [$name]',
  (t) => {
    it('runs afterLoad subscribers that query, on the one connection the stream holds', () =>
      withNotes(
        t,
        'unused',
        async (b, notes) => {
          // No reader beside the writer: the stream reads on the one connection, holding the transaction slot.
          expect(b.dataSource.options).toMatchObject({ enableWAL: false });
          await expectQueryingAfterLoadServed(b, notes, true);
          // Released as in memory: one connection, the budget of one stream.
          await expectStreamsReleased(b, sqliteMemory);
        },
        { enableWAL: false } as Partial<DataSourceOptions>,
      ));
  },
);
