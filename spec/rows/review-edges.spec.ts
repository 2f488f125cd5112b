import { lastValueFrom, take, toArray } from 'rxjs';
import { CancelledError, InvalidIdentifierError, TransactionError } from '../../lib';
import { fillItems } from '../support/streams';
import { withItems } from '../support/brokers';
import { allTargets, fileAndPg, pgAvailable, postgres, sqliteFile, sqliteMemory } from '../support/targets';

describe.each(allTargets)('query() runs one statement on its own [$name]', (t) => {
  it.each(['BEGIN', 'begin transaction', ' COMMIT', 'ROLLBACK', 'SAVEPOINT x', 'START TRANSACTION'])(
    'refuses %p outside a transaction, leaving the connection clean',
    (sql) =>
      withItems(t, async (b) => {
        const error = await lastValueFrom(b.query(sql)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransactionError);
        expect((error as Error).message).toMatch(/use transact\(\)/);
        // A later insert is committed for everyone, and a later transaction starts normally.
        await lastValueFrom(b.query(b.insertSql(), ['visible']));
        await lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['in a transaction'])));
        expect(await b.names()).toEqual(['visible', 'in a transaction']);
      }),
  );

  it('runs in a transaction when an isolation level is asked for', () =>
    withItems(t, async (b) => {
      const sql = b.dialect === 'postgres' ? 'SHOW transaction_isolation' : 'SELECT 1 AS ok';
      const rows = await lastValueFrom(b.query<Record<string, string>>(sql, [], { isolation: 'SERIALIZABLE' }));
      if (b.dialect === 'postgres') expect(rows[0]!.transaction_isolation).toBe('serializable');
      else expect(rows).toEqual([{ ok: 1 }]);
    }));

  it('says "statement … failed", not "rolled back", when an autocommit statement fails', () =>
    withItems(t, async (b) => {
      const error = (await lastValueFrom(b.query('SELEC 1')).catch((e: unknown) => e)) as Error;
      expect(error.message).toMatch(/^statement query failed:/);
    }));
});

describe.each(allTargets)('produceRows() cancelled part way [$name]', (t) => {
  it('writes nothing, not even after the rollback', () =>
    withItems(t, async (b) => {
      const f = async (i: number) => (await new Promise((r) => setTimeout(r, 5)), `n${i}`);
      const sub = b
        .produceRows(
          f,
          Array.from({ length: 40 }, (_, i) => i),
          b.itemsTable,
          'name',
          {},
          { concurrency: 2 },
        )
        .subscribe({
          error: () => undefined,
        });
      await new Promise((r) => setTimeout(r, 40));
      sub.unsubscribe();
      await b.drain();
      await new Promise((r) => setTimeout(r, 150));
      expect(await b.names()).toEqual([]);
    }));
});

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

describe.each(fileAndPg)('abort during a long read [$name]', (t) => {
  it('interrupts the statement instead of waiting for it', () =>
    withItems(t, async (b) => {
      const slow =
        t.dialect === 'postgres'
          ? 'SELECT pg_sleep(20) AS s'
          : 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT count(*) AS s FROM c';
      const controller = new AbortController();
      const started = Date.now();
      const result = lastValueFrom(b.stream(slow, [], { signal: controller.signal })).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 200));
      controller.abort(new Error('enough'));
      expect(await result).toBeInstanceOf(CancelledError);
      expect(Date.now() - started).toBeLessThan(8000);
      await b.drain();
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));
});

(pgAvailable ? describe : describe.skip)('a paused postgres stream whose backend dies [postgres]', () => {
  it('fails its next read instead of crashing the process', () =>
    withItems(postgres, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 50 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const it = b
        .stream<{ pid: number }>(`SELECT pg_backend_pid() AS pid, name FROM ${b.itemsTable}`, [], { batchSize: 5 })
        [Symbol.asyncIterator]();
      const first = await it.next();
      const pid = (first.value as { pid: number }).pid;
      await lastValueFrom(b.query('SELECT pg_terminate_backend($1)', [pid]));
      await new Promise((r) => setTimeout(r, 100));
      const next = (async () => {
        for (;;) if ((await it.next()).done) return 'ended';
      })();
      await expect(next).rejects.toBeInstanceOf(TransactionError);
      await b.drain();
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));
});

describe.each(allTargets)('run() whose function queues work of its own [$name]', (t) => {
  it('lets that work run instead of waiting for the slot run() holds, one at a time on sqlite', () =>
    withItems(t, async (b) => {
      const result = await lastValueFrom(
        b.run(async () => {
          await lastValueFrom(b.query(b.insertSql(), ['from run']));
          const both = await Promise.all([
            lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['a']))),
            lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['b']))),
          ]);
          return both.length;
        }),
      );
      expect(result).toBe(2);
      expect((await b.names()).sort()).toEqual(['a', 'b', 'from run']);
    }));
});

(pgAvailable ? describe : describe.skip)('a transaction stream ended early [postgres]', () => {
  it('keeps its connection in the pool when no statement is running', () =>
    withItems(postgres, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 30 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const pids = new Set<number>();
      for (let i = 0; i < 6; i++) {
        await lastValueFrom(
          b
            .transact(async (tx) => {
              pids.add(Number((await tx.query('SELECT pg_backend_pid() AS pid'))[0].pid));
              return b.stream(`SELECT name FROM ${b.itemsTable}`, [], { batchSize: 5 });
            })
            .pipe(take(3), toArray()),
        );
        await b.drain();
      }
      // Reused from the pool, not destroyed and reopened each time (one backend, or two at most).
      expect(pids.size).toBeLessThanOrEqual(2);
    }));
});
