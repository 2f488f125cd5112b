import { lastValueFrom, toArray } from 'rxjs';
import { InvalidIdentifierError } from '../../../lib';
import { fillItems } from '../../support/streams';
import { withItems } from '../../support/brokers';
import { sqliteFile, sqliteMemory } from '../../support/targets';

// The keyset reading itself is the sqlite dialect's (lib/dialect/sqlite/chunk-source.ts); these
// specs go through broker.stream(), as a caller does.
describe.each([sqliteFile, sqliteMemory])('sqlite keyset streams refuse keys that would lose rows [$name]', (t) => {
  it.each([
    ['repeated key values', 'SELECT id / 2 AS k, name FROM %t', /repeat|not unique/],
    ['NULL keys', 'SELECT CASE WHEN id > 2 THEN NULL ELSE id END AS k, name FROM %t', /NULL/],
    ['a key that is not a column', 'SELECT id, name FROM %t', /no such column/],
  ])('fails clearly on %s', (_what, sql, message) =>
    withItems(t, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 10 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const error = await lastValueFrom(
        b.stream(sql.replace('%t', b.itemsTable), [], { key: 'k', batchSize: 2 }).pipe(toArray()),
      ).catch((e: unknown) => e);
      expect(((error as Error).cause ?? error) as Error).toBeInstanceOf(InvalidIdentifierError);
      expect((error as Error).message).toMatch(message);
    }),
  );

  it('reads SQL ending in a comment or a semicolon and a comment', () =>
    withItems(t, async (b) => {
      await fillItems(b, 5);
      for (const tail of [' -- trailing comment', '; -- x', ';;  ']) {
        const rows = await lastValueFrom(
          b.stream(`SELECT id FROM ${b.itemsTable}${tail}`, [], { key: 'id', batchSize: 2 }).pipe(toArray()),
        );
        expect(rows).toHaveLength(5);
      }
    }));

  it('refuses a malformed key at call time, before opening anything', () =>
    withItems(t, async (b) => {
      expect(() => b.stream('SELECT 1', [], { key: 'x"; DROP TABLE y; --' })).toThrow(InvalidIdentifierError);
    }));

  it('reads a snapshot inside a transaction even with a key (its own writes do not feed the stream)', () =>
    withItems(t, async (b) => {
      await fillItems(b, 4);
      const read = await lastValueFrom(
        b.transact(async (tx) => {
          let n = 0;
          for await (const row of b.stream<{ name: string }>(`SELECT * FROM ${b.itemsTable}`, [], {
            key: 'id',
            batchSize: 1,
          })) {
            await tx.query(b.insertSql(), [`more ${row.name}`]);
            if (++n > 20) break;
          }
          return n;
        }),
      );
      expect(read).toBe(4);
    }));
});
