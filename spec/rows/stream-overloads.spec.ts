import { lastValueFrom, Observable, toArray } from 'rxjs';
import { EntitySchema, type DataSourceOptions, type ObjectLiteral, type Repository } from 'typeorm';
import { resolveTarget, type AccessBroker, type RowStream } from '../../lib';
import { withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, ph, uniqueName } from '../support/targets';

async function fill(b: ItemsBroker, n: number): Promise<void> {
  await lastValueFrom(
    b.produceRows(
      (i: number) => `n${i}`,
      Array.from({ length: n }, (_, i) => i + 1),
      b.itemsTable,
      'name',
    ),
  );
}

describe.each(allTargets)('stream() overloads [$name]', (t) => {
  it('takes a QueryBuilder and its options, with no parameter list in between', () =>
    withItems(t, async (b) => {
      await fill(b, 5);
      const qb = b.dataSource
        .createQueryBuilder()
        .select('i.name', 'name')
        .from(b.itemsTable, 'i')
        .where('i.id > :min', { min: 1 })
        .orderBy('i.id');
      const batches: number[] = [];
      const rows = await lastValueFrom(b.stream(qb, { batchSize: 2, onBatch: (n) => batches.push(n) }).pipe(toArray()));
      expect(rows.map((r) => r.name)).toEqual(['n2', 'n3', 'n4', 'n5']);
      expect(batches.slice(0, 2)).toEqual([2, 2]);
    }));

  it('still takes SQL, parameters and options', () =>
    withItems(t, async (b) => {
      await fill(b, 5);
      const batches: number[] = [];
      const sql = `SELECT name FROM ${b.itemsTable} WHERE id > ${ph(b.dialect, 1)} ORDER BY id`;
      const rows = await lastValueFrom(
        b.stream<{ name: string }>(sql, [2], { batchSize: 2, onBatch: (n) => batches.push(n) }).pipe(toArray()),
      );
      expect(rows.map((r) => r.name)).toEqual(['n3', 'n4', 'n5']);
      expect(batches[0]).toBe(2);
    }));

  it('checks a QueryBuilder stream’s options and refuses a parameter list beside it', () =>
    withItems(t, async (b) => {
      const qb = b.dataSource.createQueryBuilder().select('i.name', 'name').from(b.itemsTable, 'i');
      expect(() => b.stream(qb, { batchSize: 0 })).toThrow(RangeError);
      expect(() => b.stream(qb, [] as never)).toThrow(/QueryBuilder brings its own parameters/);
      expect(() => b.stream('SELECT 1', { batchSize: 2 } as never)).toThrow(/parameters must be an array/);
    }));
});

interface Note {
  id: number;
  title: string;
}

/** True only when A and B are the same type (not merely assignable one way). */
type Same<A, B> = (<X>() => X extends A ? 1 : 2) extends <X>() => X extends B ? 1 : 2 ? true : false;

/**
 * The types, checked by `tsc --noEmit -p .` (npm run lint): a `Same` that
 * stops holding fails the type check, and so does an `@ts-expect-error`
 * that stops erring. Run by the spec below too (nothing is read: streams are cold).
 */
function streamTypes(b: AccessBroker, notes: Repository<Note>): void {
  const qb = notes.createQueryBuilder('n');
  // Raw rows are raw rows: not a Note without a cast.
  const raw = b.stream(qb);
  const rawIsObjectLiteral: Same<typeof raw, RowStream<ObjectLiteral>> = true;
  // @ts-expect-error raw rows (n_id, n_title) are not Notes
  const wrong: RowStream<Note> = b.stream(qb);
  // @ts-expect-error nor with entities: false
  const wrongToo: RowStream<Note> = b.stream(qb, { entities: false, batchSize: 10 });
  // Entities are typed from the QueryBuilder, with no type argument.
  const entities = b.stream(qb, { entities: true, batchSize: 10 });
  const entitiesAreNotes: Same<typeof entities, RowStream<Note>> = true;
  // A boolean known only at run time: one or the other.
  const either = b.stream(qb, { entities: notes.metadata.columns.length > 0 });
  const eitherIsUnion: Same<typeof either, RowStream<Note> | RowStream<ObjectLiteral>> = true;
  // Raw SQL keeps a row type the caller asserts, and takes no entities (a TypeError for JavaScript callers).
  const asserted: RowStream<{ name: string }> = b.stream<{ name: string }>('SELECT 1 AS name');
  // @ts-expect-error entities: true needs a QueryBuilder
  expect(() => b.stream('SELECT 1', [], { entities: true })).toThrow(TypeError);
  for (const stream of [raw, wrong, wrongToo, entities, either, asserted]) expect(stream).toBeInstanceOf(Observable);
  expect([rawIsObjectLiteral, entitiesAreNotes, eitherIsUnion]).toEqual([true, true, true]);
}

describe.each(allTargets)('stream() types [$name]', (t) => {
  it('types raw rows as ObjectLiteral and entities as the QueryBuilder’s entity (streamTypes, checked by tsc)', () => {
    const table = uniqueName('notes');
    const Notes = new EntitySchema<Note>({
      name: table,
      columns: { id: { type: Number, primary: true }, title: { type: String } },
    });
    const options = { ...resolveTarget(t.target()).options, entities: [Notes] } as DataSourceOptions;
    return withItems(t, async (b) => streamTypes(b, b.dataSource.getRepository(Notes)), options);
  });
});
