import { lastValueFrom, take, toArray } from 'rxjs';
import { CancelledError, ReadOnlyError, SasyncError, TransactionError } from '../../lib';
import { withItems, type ItemsBroker } from '../support/brokers';
import {
  allItemsSql,
  busySessions,
  expectStreamsReleased,
  failingAtSql,
  fillItems,
  insertName,
  withStreamItems,
} from '../support/streams';
import { allTargets, postgres, pgAvailable, uniqueName, type TestTarget } from '../support/targets';

const NAMES = ['n1', 'n2', 'n3'];

/** The code the database refuses a write with in the stream's read-only mode. */
function readOnlyCode(t: TestTarget): string {
  return t.dialect === 'postgres' ? '25006' : 'SQLITE_READONLY';
}

/** Statements that write, on the items table (`$items`). */
const WRITES = [
  { what: 'DELETE … RETURNING', sql: "DELETE FROM $items WHERE name = 'n1' RETURNING id" },
  { what: 'UPDATE … RETURNING', sql: "UPDATE $items SET name = 'changed' RETURNING id" },
  { what: 'INSERT … RETURNING', sql: "INSERT INTO $items (name) VALUES ('inserted') RETURNING id" },
  { what: 'DROP TABLE', sql: 'DROP TABLE $items' },
];

function onItems(b: ItemsBroker, sql: string): string {
  return sql.replace('$items', b.itemsTable);
}

/** The table as a fresh query (on the broker's own connection) sees it. */
async function tables(b: ItemsBroker, name: string): Promise<number> {
  const sql =
    b.dialect === 'postgres'
      ? 'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = $1'
      : "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?";
  const rows = await lastValueFrom(b.query<{ n: number }>(sql, [name]));
  return Number(rows[0]!.n);
}

/** The broker still writes: whatever the stream switched off is back on. */
async function expectWritable(b: ItemsBroker): Promise<void> {
  await insertName(b, 'written after');
  await lastValueFrom(b.query(`DELETE FROM ${b.itemsTable} WHERE name = 'written after'`));
}

describe.each(allTargets)('stream() outside a transaction only reads [$name]', (t) => {
  const appName = `sasync-rows-read-only-${process.pid}`;
  const run = (fn: (b: ItemsBroker) => Promise<void>) =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, NAMES.length);
      await fn(b);
      await expectStreamsReleased(b, t, appName);
      await expectWritable(b);
    });

  // sqlite reads a result by key or through a temporary copy: both ways.
  describe.each([{ how: 'without key' }, { how: 'with { key }', key: 'id' }])('$how', ({ key }) => {
    it.each(WRITES)('refuses $what with ReadOnlyError, and changes nothing', ({ sql: template }) =>
      run(async (b) => {
        const sql = onItems(b, template);
        const error = await lastValueFrom(b.stream(sql, [], { key }).pipe(toArray())).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ReadOnlyError);
        expect(error).toMatchObject({ code: readOnlyCode(t), sql: expect.stringContaining(b.itemsTable) });
        expect((error as Error).message).toMatch(
          /^stream\(\) outside a transaction only reads: .*query\(\).*transact\(\)/,
        );
        // A fresh query: the table is there, as it was.
        expect(await b.names()).toEqual(NAMES);
      }),
    );

    it('refuses CREATE TABLE, and creates nothing', () =>
      run(async (b) => {
        const created = uniqueName('never');
        const error = await lastValueFrom(
          b.stream(`CREATE TABLE ${created} (id integer)`, [], { key }).pipe(toArray()),
        ).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ReadOnlyError);
        expect(await tables(b, created)).toBe(0);
      }));
  });

  it('still reads, with and without a key (a temporary copy works on the read-only connection)', () =>
    run(async (b) => {
      for (const key of [undefined, 'id']) {
        const rows = await lastValueFrom(
          b.stream<{ name: string }>(allItemsSql(b), [], { key, batchSize: 2 }).pipe(toArray()),
        );
        expect(rows.map((r) => r.name)).toEqual(NAMES);
      }
    }));

  it('never runs a second statement given after the first', () =>
    run(async (b) => {
      await lastValueFrom(
        b.stream(`SELECT id FROM ${b.itemsTable}; DELETE FROM ${b.itemsTable}`).pipe(toArray()),
      ).catch(() => undefined);
      expect(await b.names()).toEqual(NAMES);
    }));

  // The read-only mode (postgres: a READ ONLY transaction; sqlite in memory:
  // PRAGMA query_only) ends with the stream on every exit: the broker writes
  // afterwards and no session is left in a transaction (run() checks both).
  describe('ends its read-only mode on every exit', () => {
    it('at the end', () => run(async (b) => void (await lastValueFrom(b.stream(allItemsSql(b)).pipe(toArray())))));

    it('on an error', () =>
      run(async (b) => {
        await expect(lastValueFrom(b.stream(failingAtSql(b, 2), [], { batchSize: 1 }))).rejects.toBeInstanceOf(
          TransactionError,
        );
      }));

    it('on unsubscribe (take)', () =>
      run(async (b) => void (await lastValueFrom(b.stream(allItemsSql(b), [], { batchSize: 1 }).pipe(take(1))))));

    it('on break', () =>
      run(async (b) => {
        for await (const _row of b.stream(allItemsSql(b), [], { batchSize: 1 })) break;
      }));

    it('on abort', () =>
      run(async (b) => {
        const controller = new AbortController();
        const reading = (async () => {
          for await (const _row of b.stream(allItemsSql(b), [], { batchSize: 1, signal: controller.signal })) {
            controller.abort(new Error('enough'));
          }
        })();
        await expect(reading).rejects.toBeInstanceOf(CancelledError);
      }));

    it('after a refused write', () =>
      run(async (b) => {
        await expect(lastValueFrom(b.stream(onItems(b, WRITES[0]!.sql)))).rejects.toBeInstanceOf(ReadOnlyError);
      }));
  });

  // The user chose a transaction: its stream is part of it and may write.
  it('inside transact() a stream reads what the transaction wrote, and the work writes for each row', () =>
    run(async (b) => {
      const copies = await lastValueFrom(
        b
          .transact(async (tx) => {
            await tx.query(b.insertSql(), ['n4']);
            const names: string[] = [];
            for await (const row of b.stream<{ name: string }>(allItemsSql(b), [], { batchSize: 2 })) {
              names.push(row.name);
              await tx.query(b.insertSql(), [`copy of ${row.name}`]);
            }
            return names;
          })
          .pipe(toArray()),
      );
      expect(copies).toEqual([[...NAMES, 'n4']]);
      expect(await b.names()).toEqual([...NAMES, 'n4', ...[...NAMES, 'n4'].map((n) => `copy of ${n}`)]);
      await lastValueFrom(b.query(`DELETE FROM ${b.itemsTable} WHERE id > ${NAMES.length}`));
    }));
});

describe.each(pgAvailable ? [postgres] : [])('stream() on postgres [$name]', (t) => {
  const appName = `sasync-rows-read-only-pg-${process.pid}`;
  const sequence = uniqueName('seq');

  it('refuses writes a SELECT makes (WITH … DELETE, FOR UPDATE, nextval) outside a transaction', () =>
    withStreamItems(t, appName, async (b) => {
      await fillItems(b, NAMES.length);
      await lastValueFrom(b.query(`CREATE SEQUENCE ${sequence}`));
      try {
        for (const sql of [
          `WITH gone AS (DELETE FROM ${b.itemsTable} RETURNING id) SELECT id FROM gone`,
          `SELECT id FROM ${b.itemsTable} FOR UPDATE`,
          `SELECT nextval('${sequence}') AS n`,
        ]) {
          const error = await lastValueFrom(b.stream(sql)).catch((e: unknown) => e);
          expect({ sql, error }).toEqual({ sql, error: expect.any(ReadOnlyError) });
          expect(error).toMatchObject({ code: '25006', sql });
        }
        expect(await b.names()).toEqual(NAMES);
        const [next] = await lastValueFrom(b.query<{ n: string }>(`SELECT nextval('${sequence}') AS n`));
        expect(Number(next!.n)).toBe(1);
        expect(await busySessions(b, appName)).toBe(0);
      } finally {
        await lastValueFrom(b.query(`DROP SEQUENCE IF EXISTS ${sequence}`));
      }
    }));

  it('inside transact() runs them: the stream is part of the transaction', () =>
    withItems(t, async (b) => {
      await fillItems(b, NAMES.length);
      await lastValueFrom(b.query(`CREATE SEQUENCE ${sequence}`));
      try {
        const rows = await lastValueFrom(
          b
            .transact(() =>
              b.stream<{ id: number; n: string }>(
                `SELECT id, nextval('${sequence}') AS n FROM ${b.itemsTable} ORDER BY id FOR UPDATE`,
                [],
                { batchSize: 2 },
              ),
            )
            .pipe(toArray()),
        );
        expect(rows.map((r) => [r.id, Number(r.n)])).toEqual([
          [1, 1],
          [2, 2],
          [3, 3],
        ]);
        const [next] = await lastValueFrom(b.query<{ n: string }>(`SELECT nextval('${sequence}') AS n`));
        expect(Number(next!.n)).toBe(4);
      } finally {
        await lastValueFrom(b.query(`DROP SEQUENCE IF EXISTS ${sequence}`));
      }
    }));
});

describe('ReadOnlyError', () => {
  it('says what was refused and what to do, with the SQL and the driver code', () => {
    const cause = Object.assign(new Error('cannot execute DELETE in a read-only transaction'), { code: '25006' });
    const error = new ReadOnlyError('the statement writes', { sql: 'DELETE FROM t', code: '25006', cause });
    expect(error).toBeInstanceOf(SasyncError);
    expect(error.name).toBe('ReadOnlyError');
    expect(error.message).toBe(
      'stream() outside a transaction only reads: the statement writes; ' +
        'run writes with query() or return the stream from transact() work',
    );
    expect(error).toMatchObject({ sql: 'DELETE FROM t', code: '25006', cause });
  });
});
