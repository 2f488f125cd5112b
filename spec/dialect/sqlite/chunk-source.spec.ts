import { lastValueFrom, toArray } from 'rxjs';
import { InvalidIdentifierError } from '../../../lib';
import { withItems } from '../../support/brokers';
import { sqliteFile, sqliteMemory } from '../../support/targets';

describe.each([sqliteMemory, sqliteFile])('sqlite streams without a key [$name]', (t) => {
  it('reads every row in order when the result has a column named rowid or oid', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 30 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const aliased = await lastValueFrom(
        b
          .stream<{ rowid: number }>(
            `SELECT id + 1000 AS rowid, name AS oid FROM ${b.itemsTable} ORDER BY id DESC`,
            [],
            {
              batchSize: 7,
            },
          )
          .pipe(toArray()),
      );
      expect(aliased.map((r) => r.rowid)).toEqual(Array.from({ length: 30 }, (_, i) => 1030 - i));
    }));

  it('refuses, clearly, a result that takes every name of the rowid', () =>
    withItems(t, async (b) => {
      const error = await lastValueFrom(b.stream('SELECT 1 AS rowid, 2 AS oid, 3 AS _rowid_')).catch((e: unknown) => e);
      expect((error as Error).cause ?? error).toBeInstanceOf(InvalidIdentifierError);
      expect((error as Error).message).toMatch(/rowid/);
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));

  it('reads consistently across chunks with a key, and with a trailing semicolon in the SQL', () =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `k${i}`,
          Array.from({ length: 11 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const keyed = await lastValueFrom(
        b.stream<{ id: number }>(`SELECT id FROM ${b.itemsTable};`, [], { key: 'id', batchSize: 3 }).pipe(toArray()),
      );
      expect(keyed.map((r) => r.id)).toEqual(Array.from({ length: 11 }, (_, i) => i + 1));
    }));
});
