import { filter, firstValueFrom } from 'rxjs';
import type { DataSourceOptions } from 'typeorm';
import { Items, PersistentArray, PersistentDict, resolveTarget } from '../../lib';
import { RawSql } from '../support/stores';
import { within } from '../support/streams';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

/** A DataSource of its own on the test database, in `schema`. */
const inSchema = (schema: string): DataSourceOptions =>
  ({ ...resolveTarget(PG_URL).options, schema }) as DataSourceOptions;

/**
 * Stores honour the postgres `schema` of their DataSourceOptions: two apps
 * separated by schema keep their rows, indexes and notices apart.
 */
(pgAvailable ? describe : describe.skip)('stores in a postgres schema [postgres]', () => {
  let raw: RawSql;
  // One in capitals: the name is quoted on its way to the search_path.
  const schemas = [uniqueName('SA'), uniqueName('sb')];

  beforeAll(async () => {
    raw = new RawSql(PG_URL);
    for (const s of schemas) await raw.query(`CREATE SCHEMA "${s}"`);
  });
  afterAll(async () => {
    for (const s of schemas) await raw.query(`DROP SCHEMA "${s}" CASCADE`);
    await raw.shutdown();
  });

  it('PersistentDict, Items and PersistentArray on the same group ids do not mix; rows are in their schema', async () => {
    const group = uniqueName('g');
    const stores = schemas.map((schema) => {
      const target = inSchema(schema);
      return {
        schema,
        dict: new PersistentDict<string, string>(group, target),
        items: new Items<string, string>(group, target),
        grid: new PersistentArray<string>(group, target),
      };
    });
    try {
      for (const { schema, dict, items, grid } of stores) {
        await dict.set('k', `dict in ${schema}`);
        await items.insert('i', `items in ${schema}`);
        await grid.set(0, 'x', null, `grid in ${schema}`);
      }
      for (const { schema, dict, items, grid } of stores) {
        expect(await dict.loadAll()).toEqual(
          new Map([
            ['k', `dict in ${schema}`],
            ['i', `items in ${schema}`],
          ]),
        );
        expect(await items.load('i')).toBe(`items in ${schema}`);
        expect(await grid.get(0, 'x', null)).toBe(`grid in ${schema}`);
        const rows = await raw.query<{ name: string }>(
          `SELECT name FROM "${schema}".sasync_items WHERE group_id = ? ORDER BY name`,
          [group],
        );
        expect(rows.map((r) => r.name)).toEqual(['i', 'k']);
        const cells = await raw.query(`SELECT x FROM "${schema}".sasync_array WHERE group_id = ?`, [group]);
        expect(cells).toEqual([{ x: 'n0' }]);
        const indexes = await raw.query<{ indexname: string }>(
          'SELECT indexname FROM pg_indexes WHERE schemaname = ? ORDER BY 1',
          [schema],
        );
        expect(indexes.map((i) => i.indexname)).toEqual(
          expect.arrayContaining(['ux_sasync_array_group_xyz', 'ux_sasync_items_group_name']),
        );
      }
      expect(await raw.items(group)).toEqual(new Map());
      const publicCells = await raw.query('SELECT x FROM sasync_array WHERE group_id = ?', [group]);
      expect(publicCells).toEqual([]);
    } finally {
      for (const { dict, items, grid } of stores) {
        await dict.shutdown();
        await items.shutdown();
        await grid.shutdown();
      }
    }
  });

  it('a dict hears writes of its schema from another DataSource, and not those of another schema', async () => {
    const group = uniqueName('g');
    const [a, b] = schemas;
    const listener = new PersistentDict<string, string>(group, inSchema(a!));
    const sameSchema = new PersistentDict<string, string>(group, inSchema(a!));
    const otherSchema = new PersistentDict<string, string>(group, inSchema(b!));
    try {
      await listener.loadAll();
      const seen: string[] = [];
      const sub = listener.changes$.subscribe((c) => seen.push(`${c.origin} ${c.type} ${c.key}=${c.value}`));
      const heard = firstValueFrom(listener.changes$.pipe(filter((c) => c.key === 'marker')));
      await otherSchema.set('k', 'other schema');
      // Notices of one DataSource arrive in commit order: the marker comes after.
      await sameSchema.set('k', 'same schema');
      await sameSchema.set('marker', 'm');
      await within(heard, 'the marker from the same schema');
      sub.unsubscribe();
      expect(seen).toEqual(['remote set k=same schema', 'remote set marker=m']);
      expect(await listener.get('k')).toBe('same schema');
    } finally {
      await listener.shutdown();
      await sameSchema.shutdown();
      await otherSchema.shutdown();
    }
  });
});
