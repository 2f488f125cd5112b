import { lastValueFrom, toArray } from 'rxjs';
import sqlite3 from 'sqlite3';
import { readsOnOneConnection } from '../../lib/dialect/sqlite/options';
import { planRowidChunks } from '../../lib/dialect/sqlite/rowid-chunks';
import { latch, withItems, type ItemsBroker } from '../support/brokers';
import { insertName, readCounter, sqliteFile, within } from '../support/streams';
import { fileAndPg, type TestTarget } from '../support/targets';

interface Case {
  readonly t: TestTarget;
  readonly name: string;
  /** sqlite: read keyset chunks by this column instead of copying the result first. */
  readonly key?: string;
  /** sqlite without key: a query that is not a plain single-table read (copied first, not read by rowid). */
  readonly copied?: boolean;
}

// sqlite reads a file in three ways (a copy into a temporary table; keyset
// chunks by key, or by rowid for a plain single-table query, in a read
// transaction): each must be a snapshot.
const cases: Case[] = fileAndPg.flatMap((t) =>
  t.dialect === 'sqlite'
    ? [
        { t, name: `${t.name}, no key (rowid chunks)` },
        { t, name: `${t.name}, no key, copied`, copied: true },
        { t, name: `${t.name}, key id`, key: 'id' },
      ]
    : [{ t, name: t.name }],
);

const PEOPLE = ['Alice', 'Bob', 'Carol', 'Dave', 'Eve'];

async function addPeople(b: ItemsBroker): Promise<void> {
  for (const name of PEOPLE) await insertName(b, name);
}

/** Whether the planner reads `sql` by rowid chunks, asked on a read-only connection of the test's own to b's file. */
async function plannedByRowid(b: ItemsBroker, sql: string): Promise<boolean> {
  const db = await new Promise<sqlite3.Database>((resolve, reject) => {
    const opened = new sqlite3.Database(sqliteFile(b), sqlite3.OPEN_READONLY, (err) =>
      err ? reject(err) : resolve(opened),
    );
  });
  const query = (statement: string, parameters: unknown[]) =>
    new Promise<Record<string, unknown>[]>((resolve, reject) =>
      db.all(statement, parameters, (err, rows) => (err ? reject(err) : resolve(rows as Record<string, unknown>[]))),
    );
  try {
    await query('BEGIN', []);
    return (await planRowidChunks(query, sql, [])) !== undefined;
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

describe.each(cases)('a row stream reads the snapshot it started with [$name]', ({ t, key, copied }) => {
  const namesSql = (b: ItemsBroker) =>
    copied
      ? `SELECT id, name FROM (SELECT * FROM ${b.itemsTable}) AS c ORDER BY id`
      : `SELECT id, name FROM ${b.itemsTable} ORDER BY id`;

  if (t.dialect === 'sqlite' && key === undefined) {
    // The cases read the way their names say: a stream on this file reads on a
    // connection of its own (WAL), and the planner takes the rowid path for the
    // plain query and refuses the copied one.
    it(copied ? 'the query is copied, not read by rowid' : 'the query is read by rowid chunks, not copied', () =>
      withItems(t, async (b) => {
        await addPeople(b);
        expect(readsOnOneConnection(b.dataSource)).toBe(false);
        expect(await plannedByRowid(b, namesSql(b))).toBe(!copied);
      }),
    );
  }

  // sAsync's selectorator_twoConcurrently.
  it('a slow reader started before an insert sees 5 people, a later fast reader 6; the insert is not blocked', () =>
    withItems(t, async (b) => {
      await addPeople(b);
      const firstBatch = latch();
      const goOn = latch();
      const read = readCounter();
      const slow: string[] = [];
      const slowReader = (async () => {
        for await (const row of b.stream<{ name: string }>(namesSql(b), [], {
          batchSize: 2,
          key,
          onBatch: read.onBatch,
        })) {
          slow.push(row.name);
          if (slow.length === 1) {
            firstBatch.resolve();
            await goOn.promise;
          }
          // Paused between batches, too.
          if (slow.length % 2 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      await firstBatch.promise;
      // The stream is open and paused; the transaction commits anyway.
      await within(insertName(b, 'Frank'), 'an insert while a stream is open');
      expect(slow).toEqual(['Alice']);
      expect(read.rows).toBe(2);
      const fast = await lastValueFrom(b.stream<{ name: string }>(namesSql(b), [], { key }).pipe(toArray()));
      expect(fast.map((r) => r.name)).toEqual([...PEOPLE, 'Frank']);
      goOn.resolve();
      await slowReader;
      expect(slow).toEqual(PEOPLE);
      expect(read.batches).toBe(3);
    }));

  // sAsync's test_iterate_nextWhileIterating: a transaction per row, while iterating.
  it('rows inserted while iterating (a committed transaction per row) are not in the stream', () =>
    withItems(t, async (b) => {
      await addPeople(b);
      const seen: string[] = [];
      for await (const row of b.stream<{ name: string }>(namesSql(b), [], { batchSize: 2, key })) {
        seen.push(row.name);
        await within(insertName(b, `${row.name} junior`), 'an insert while iterating');
      }
      // A stream that saw its own inserts would go on (and on) past 5.
      expect(seen).toEqual(PEOPLE);
      expect(await b.names()).toEqual([...PEOPLE, ...PEOPLE.map((n) => `${n} junior`)]);
    }));

  it('rows deleted and updated after the first batch are still read as they were', () =>
    withItems(t, async (b) => {
      await addPeople(b);
      const seen: string[] = [];
      for await (const row of b.stream<{ name: string }>(namesSql(b), [], { batchSize: 2, key })) {
        seen.push(row.name);
        if (seen.length === 1) {
          await within(
            lastValueFrom(
              b.transact(async (tx) => {
                await tx.query(`UPDATE ${b.itemsTable} SET name = 'renamed' WHERE name = 'Dave'`);
                await tx.query(`DELETE FROM ${b.itemsTable} WHERE name IN ('Bob', 'Eve')`);
              }),
            ),
            'an update and a delete while a stream is open',
          );
        }
      }
      expect(seen).toEqual(PEOPLE);
      expect(await b.names()).toEqual(['Alice', 'Carol', 'renamed']);
    }));
});
