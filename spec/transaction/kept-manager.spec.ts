import { lastValueFrom } from 'rxjs';
import { EntitySchema, type DataSourceOptions, type EntityManager } from 'typeorm';
import { AccessBroker, resolveTarget, TransactionError } from '../../lib';
import { latch } from '../support/brokers';
import { allTargets, uniqueName, type TestTarget } from '../support/targets';

interface Note {
  id?: number;
  text: string;
}

/** A broker with a TypeORM entity of its own, for save() and find(). */
class NotesBroker extends AccessBroker {
  constructor(
    target: DataSourceOptions,
    readonly notesTable: string,
    readonly Note: EntitySchema<Note>,
  ) {
    super(target);
  }

  protected override async startup(): Promise<void> {
    await this.table(this.notesTable, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'text', type: 'string', length: 40 },
    ]);
  }

  async texts(): Promise<string[]> {
    const rows = await lastValueFrom(this.query<{ text: string }>(`SELECT text FROM ${this.notesTable} ORDER BY id`));
    return rows.map((r) => r.text);
  }
}

async function withNotes(t: TestTarget, fn: (b: NotesBroker) => Promise<void>): Promise<void> {
  const table = uniqueName('notes');
  const Note = new EntitySchema<Note>({
    name: table,
    tableName: table,
    columns: { id: { type: Number, primary: true, generated: true }, text: { type: String, length: 40 } },
  });
  const options = { ...resolveTarget(t.target()).options, entities: [Note] } as DataSourceOptions;
  const b = new NotesBroker(options, table, Note);
  await b.waitUntilRunning();
  try {
    await fn(b);
  } finally {
    await b.drain();
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`));
    await b.shutdown();
  }
}

/** Every way of using a kept manager, each of which must fail with TransactionError and write nothing. */
function uses(b: NotesBroker, kept: EntityManager, label: string): [string, () => Promise<unknown>][] {
  const insert = `INSERT INTO ${b.notesTable} (text) VALUES ('${label} query')`;
  return [
    ['save()', () => kept.save(b.Note, { text: `${label} save` })],
    ['insert()', () => kept.insert(b.Note, { text: `${label} insert` })],
    ['query()', () => kept.query(insert)],
    ['find()', () => kept.find(b.Note)],
    ['getRepository().save()', () => kept.getRepository(b.Note).save({ text: `${label} repository` })],
    ['queryRunner.query()', () => kept.queryRunner!.query(insert)],
    ['queryRunner.startTransaction()', () => kept.queryRunner!.startTransaction()],
    ['transaction()', () => kept.transaction((m) => m.save(b.Note, { text: `${label} nested` }))],
    [
      'createQueryBuilder().insert()',
      () =>
        kept
          .createQueryBuilder()
          .insert()
          .into(b.Note)
          .values({ text: `${label} builder` })
          .execute(),
    ],
    ['count()', () => kept.count(b.Note)],
  ];
}

async function expectRefused(b: NotesBroker, kept: EntityManager, label: string): Promise<void> {
  for (const [what, use] of uses(b, kept, label)) {
    const result = await use().then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    expect([what, result]).toEqual([what, { error: expect.any(TransactionError) }]);
  }
}

/** A manager kept from a transaction that ended in one of three ways. */
const endings: [string, (b: NotesBroker) => Promise<EntityManager>][] = [
  [
    'commit',
    async (b) => {
      let kept!: EntityManager;
      await lastValueFrom(b.transact((tx) => void (kept = tx)));
      return kept;
    },
  ],
  [
    'rollback',
    async (b) => {
      let kept!: EntityManager;
      const failing = b.transact((tx) => {
        kept = tx;
        throw new Error('rolled back');
      });
      await expect(lastValueFrom(failing)).rejects.toThrow(TransactionError);
      return kept;
    },
  ],
  [
    'cancel',
    async (b) => {
      let kept!: EntityManager;
      const started = latch();
      const subscription = b
        .transact((tx) => {
          kept = tx;
          started.resolve();
          return new Promise(() => undefined);
        })
        .subscribe({ error: () => undefined });
      await started.promise;
      subscription.unsubscribe();
      await b.drain();
      return kept;
    },
  ],
];

describe.each(allTargets)('a manager kept after its transaction ended is refused [$name]', (t) => {
  describe.each(endings)('after %s', (ending, end) => {
    it('while no transaction runs: TransactionError, nothing written', () =>
      withNotes(t, async (b) => {
        const kept = await end(b);
        await expectRefused(b, kept, ending);
        expect(await b.texts()).toEqual([]);
      }));

    it('while another transaction runs (that then commits): TransactionError, nothing written into it', () =>
      withNotes(t, async (b) => {
        const kept = await end(b);
        const inside = latch();
        const checked = latch();
        const other = lastValueFrom(
          b.transact(async (tx) => {
            await tx.save(b.Note, { text: 'other' });
            inside.resolve();
            await checked.promise;
          }),
        );
        await inside.promise;
        await expectRefused(b, kept, ending).finally(() => checked.resolve());
        await other;
        expect(await b.texts()).toEqual(['other']);
      }));
  });

  it('a savepoint manager kept after the savepoint: refused while its outer transaction goes on', () =>
    withNotes(t, async (b) => {
      let refused: unknown;
      await lastValueFrom(
        b.transact(async (tx) => {
          let kept!: EntityManager;
          await lastValueFrom(b.transact((inner) => void (kept = inner), { savepoint: true }));
          refused = await kept.save(b.Note, { text: 'kept savepoint' }).catch((err: unknown) => err);
          await tx.save(b.Note, { text: 'outer' });
        }),
      );
      expect(refused).toBeInstanceOf(TransactionError);
      expect(await b.texts()).toEqual(['outer']);
    }));

  it('joined work and this.tx get the transaction’s own manager', () =>
    withNotes(t, async (b) => {
      const managers: EntityManager[] = [];
      await lastValueFrom(
        b.transact(async (tx) => {
          managers.push(tx, b.tx);
          await lastValueFrom(b.transact((joined) => void managers.push(joined)));
          await tx.save(b.Note, { text: 'outer' });
        }),
      );
      expect(new Set(managers).size).toBe(1);
      let second!: EntityManager;
      await lastValueFrom(b.transact((tx) => void (second = tx)));
      expect(second).not.toBe(managers[0]);
      expect(await b.texts()).toEqual(['outer']);
    }));

  it('broker.dataSource.manager used while a transaction runs never joins it', () =>
    withNotes(t, async (b) => {
      const inside = latch();
      const release = latch();
      const events: string[] = [];
      const running = lastValueFrom(
        b.transact(async (tx) => {
          await tx.save(b.Note, { text: 'rolled back' });
          inside.resolve();
          await release.promise;
          throw new Error('roll it back');
        }),
      ).catch((err: unknown) => {
        events.push('transaction ended');
        throw err;
      });
      await inside.promise;
      const saved = b.dataSource.manager.save(b.Note, { text: 'on its own' }).then((note) => {
        events.push('save resolved');
        return note;
      });
      const queried = b.dataSource.query(`SELECT count(*) AS n FROM ${b.notesTable}`).then((rows: unknown[]) => {
        events.push('query resolved');
        return rows;
      });
      // On postgres the save runs on a connection of its own; on sqlite it
      // waits for the running transaction, through the queue.
      if (b.dialect === 'postgres') await Promise.all([saved, queried]);
      release.resolve();
      await expect(running).rejects.toThrow(TransactionError);
      expect((await saved).id).toEqual(expect.any(Number));
      await queried;
      if (b.dialect === 'sqlite') expect(events[0]).toBe('transaction ended');
      expect(await b.texts()).toEqual(['on its own']);
      // And the broker goes on: a transaction after it commits.
      await lastValueFrom(b.transact((tx) => tx.save(b.Note, { text: 'after' })));
      expect(await b.texts()).toEqual(['on its own', 'after']);
    }));

  it('dataSource.transaction() used while a transaction runs never joins it', () =>
    withNotes(t, async (b) => {
      const inside = latch();
      const release = latch();
      const running = lastValueFrom(
        b.transact(async () => {
          inside.resolve();
          await release.promise;
          throw new Error('roll it back');
        }),
      );
      await inside.promise;
      const own = b.dataSource.transaction((m) => m.save(b.Note, { text: 'own transaction' }));
      if (b.dialect === 'postgres') await own;
      release.resolve();
      await expect(running).rejects.toThrow(TransactionError);
      await own;
      expect(await b.texts()).toEqual(['own transaction']);
    }));
});
