import { lastValueFrom, toArray } from 'rxjs';
import { InvalidIdentifierError, TransactionError } from '../../lib';
import { loggedOptions, queryLog, withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, ph } from '../support/targets';

async function fill(b: ItemsBroker, names: string[]): Promise<void> {
  await lastValueFrom(
    b.transact(async (tx) => names.reduce((p, n) => p.then(() => tx.query(b.insertSql(), [n])), Promise.resolve())),
  );
}

describe.each(allTargets)('prepare() [$name]', (t) => {
  it('runs one named statement again with new parameters and gives the right rows', () =>
    withItems(t, async (b) => {
      await fill(b, ['ann', 'bob', 'cy']);
      const byName = b.prepare<{ id: number; name: string }>(
        'by_name',
        `SELECT id, name FROM ${b.itemsTable} WHERE name = ${ph(b.dialect, 1)}`,
      );
      expect((await lastValueFrom(byName.query(['bob'])))[0]!.name).toBe('bob');
      expect((await lastValueFrom(byName.query(['cy'])))[0]!.name).toBe('cy');
      expect(await lastValueFrom(byName.query(['nobody']))).toEqual([]);
      expect(b.prepare('by_name', byName.sql)).toBe(byName);
      const streamed = await lastValueFrom(byName.stream(['ann']).pipe(toArray()));
      expect(streamed.map((r) => r.name)).toEqual(['ann']);
    }));

  it('joins the current transaction, seeing its uncommitted rows', () =>
    withItems(t, async (b) => {
      const count = b.prepare<{ n: number }>('count', `SELECT count(*) AS n FROM ${b.itemsTable}`);
      const seen = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['inside']);
          return Number((await lastValueFrom(count.query()))[0]!.n);
        }),
      );
      expect(seen).toBe(1);
    }));

  it('refuses a name reused for different SQL, and bad names, with InvalidIdentifierError', () =>
    withItems(t, async (b) => {
      b.prepare('one', 'SELECT 1 AS x');
      expect(() => b.prepare('one', 'SELECT 2 AS x')).toThrow(InvalidIdentifierError);
      expect(() => b.prepare('one', 'SELECT 2 AS x')).toThrow(/already prepared for other SQL/);
      expect(() => b.prepare('bad name; drop', 'SELECT 1')).toThrow(InvalidIdentifierError);
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));

  it('reports malformed prepared SQL as TransactionError carrying the SQL, and keeps serving', () =>
    withItems(t, async (b) => {
      const bad = b.prepare('bad', 'SELEC nothing');
      const error = (await lastValueFrom(bad.query()).catch((e: unknown) => e)) as TransactionError;
      expect(error).toBeInstanceOf(TransactionError);
      expect(error.sql).toBe('SELEC nothing');
      expect(error.code).toBe(t.dialect === 'postgres' ? '42601' : 'SQLITE_ERROR');
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));

  if (t.dialect === 'postgres') {
    it('prepares the statement once on a connection (pg_prepared_statements)', () =>
      withItems(t, async (b) => {
        await fill(b, ['a', 'b']);
        const byName = b.prepare('once', `SELECT id FROM ${b.itemsTable} WHERE name = $1`);
        const [prepared] = await lastValueFrom(
          b.transact(async (tx) => {
            for (const n of ['a', 'b', 'a', 'b']) await lastValueFrom(byName.query([n]));
            return tx.query(
              "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT id FROM %'",
            );
          }),
        );
        expect(prepared).toEqual({ n: 1 });
      }));
  } else {
    it('runs a prepared statement without going through TypeORM again (one SQL compile)', async () => {
      const log = queryLog();
      await withItems(
        t,
        async (b) => {
          const before = log.queries.length;
          const byName = b.prepare('direct', `SELECT name FROM ${b.itemsTable} WHERE id = ?`);
          for (let i = 1; i <= 5; i++) await lastValueFrom(byName.query([i]));
          expect(log.queries.slice(before).filter((q) => q.includes('WHERE id = ?'))).toEqual([]);
        },
        loggedOptions(t.target(), log),
      );
    });
  }
});
