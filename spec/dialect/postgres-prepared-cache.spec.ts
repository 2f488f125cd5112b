import { lastValueFrom } from 'rxjs';
import { DataSource, type EntityManager } from 'typeorm';
import { AccessBroker, TransactionError } from '../../lib';
import { StatementCache } from '../../lib/dialect/postgres/statement-cache';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** Two connections (the least allowed); pg-pool hands out the one released last, so calls one after another share a backend. */
function oneConnection(): AccessBroker {
  return new AccessBroker(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}max=2`);
}

async function prepared(tx: EntityManager, sql: string): Promise<number> {
  const rows: { n: number }[] = await tx.query(
    'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1',
    [sql],
  );
  return rows[0]!.n;
}

async function preparedByUs(tx: EntityManager): Promise<number> {
  const rows: { n: number }[] = await tx.query(
    "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'sasync\\_auto\\_%' AND $1::int = 1",
    [1],
  );
  return rows[0]!.n;
}

describe('StatementCache', () => {
  it('names SQL on its second sight, keeps at most `limit`, least recently used out first, never reusing a name', () => {
    const cache = new StatementCache(2);
    expect(cache.nameFor('a')).toBeUndefined();
    const a = cache.nameFor('a');
    expect(a).toMatch(/^sasync_auto_\d+$/);
    expect(cache.nameFor('a')).toBe(a);
    cache.nameFor('b');
    const b = cache.nameFor('b');
    cache.nameFor('a'); // a is now the most recent
    cache.nameFor('c');
    const c = cache.nameFor('c');
    expect(cache.size).toBe(2);
    expect(cache.takeStale()).toEqual([b]);
    expect(cache.nameFor('a')).toBe(a);
    cache.forget('a', true);
    expect(cache.takeStale()).toEqual([a]);
    expect(cache.nameFor('a')).toBeUndefined();
    const again = cache.nameFor('a');
    expect(new Set([a, b, c, again]).size).toBe(4);
  });
});

describePg('prepared statements by default on postgres [postgres]', () => {
  let b: AccessBroker;
  beforeEach(async () => {
    b = oneConnection();
    await b.waitUntilRunning();
  });
  afterEach(() => b.shutdown());

  it('sends SQL it sees again on a connection as a named statement, and SQL without values never', async () => {
    const sql = `SELECT $1::int AS n /* ${uniqueName('x')} */`;
    const plain = `SELECT 1 AS n /* ${uniqueName('y')} */`;
    const seen = await lastValueFrom(
      b.transact(async (tx) => {
        await tx.query(sql, [1]);
        const once = await prepared(tx, sql);
        await tx.query(sql, [2]);
        const rows: unknown = await tx.query(sql, [3]);
        for (let i = 0; i < 3; i++) await tx.query(plain);
        return { once, twice: await prepared(tx, sql), rows, plain: await prepared(tx, plain) };
      }),
    );
    expect(seen).toEqual({ once: 0, twice: 1, rows: [{ n: 3 }], plain: 0 });
  });

  it('keeps at most 100 statements per connection', async () => {
    const tag = uniqueName('cap');
    const count = await lastValueFrom(
      b.transact(async (tx) => {
        for (let i = 0; i < 130; i++) {
          const sql = `SELECT $1::int + ${i} AS n /* ${tag} */`;
          await tx.query(sql, [i]);
          expect(await tx.query(sql, [i])).toEqual([{ n: 2 * i }]);
        }
        return preparedByUs(tx);
      }),
    );
    expect(count).toBe(100);
  });

  describe('after a schema change (ALTER TABLE between runs)', () => {
    let table: string;
    let select: string;
    beforeEach(async () => {
      table = uniqueName('altered');
      select = `SELECT * FROM ${table} WHERE a = $1`;
      await lastValueFrom(b.query(`CREATE TABLE ${table} (a int)`));
      await lastValueFrom(b.query(`INSERT INTO ${table} (a) VALUES ($1)`, [1]));
      // Twice: now a named statement of the connection, planned for the old columns.
      for (let i = 0; i < 2; i++) await lastValueFrom(b.query(select, [1]));
      await lastValueFrom(b.query(`ALTER TABLE ${table} ADD COLUMN b int DEFAULT 7`));
    });
    afterEach(() => lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`)));

    it('a statement outside a transaction is prepared again and succeeds', async () => {
      expect(await lastValueFrom(b.query(select, [1]))).toEqual([{ a: 1, b: 7 }]);
      expect(await lastValueFrom(b.query(select, [1]))).toEqual([{ a: 1, b: 7 }]);
    });

    it('a transaction with retry runs again and succeeds; without, it fails once with 0A000, and the next succeeds', async () => {
      let runs = 0;
      const retried = await lastValueFrom(
        b.transact(
          (tx) => {
            runs++;
            return tx.query(select, [1]);
          },
          { retry: 1 },
        ),
      );
      expect({ runs, retried }).toEqual({ runs: 2, retried: [{ a: 1, b: 7 }] });

      await lastValueFrom(b.query(select, [1])); // named again (its second sight since it was forgotten)
      await lastValueFrom(b.query(`ALTER TABLE ${table} ADD COLUMN c int DEFAULT 8`));
      const failed = await lastValueFrom(b.transact((tx) => tx.query(select, [1]))).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(TransactionError);
      expect(failed).toMatchObject({ code: '0A000', sql: select });
      expect(await lastValueFrom(b.transact((tx) => tx.query(select, [1])))).toEqual([{ a: 1, b: 7, c: 8 }]);
    });
  });

  it('an error of a named statement still names the statement', async () => {
    const sql = 'SELECT 10 / $1::int AS q';
    for (let i = 0; i < 2; i++) expect(await lastValueFrom(b.query(sql, [2]))).toEqual([{ q: 5 }]);
    expect(await lastValueFrom(b.transact((tx) => prepared(tx, sql)))).toBe(1);
    const error = await lastValueFrom(b.query(sql, [0])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error).toMatchObject({ sql, code: '22012', parameters: ['<number>'] });
  });
});

describePg("an app's own DataSource is not made to prepare [postgres]", () => {
  it("sends the owner's and sasync's repeated SQL unnamed, as the owner's pool would (a pooler may not keep named statements)", async () => {
    const ds = new DataSource({ type: 'postgres', url: PG_URL, poolSize: 2 });
    await ds.initialize();
    const b = new AccessBroker(ds);
    try {
      const sql = `SELECT $1::int AS n /* ${uniqueName('adopted')} */`;
      const seen = await b.transact(async (tx) => {
        for (let i = 0; i < 3; i++) await tx.query(sql, [i]);
        return prepared(tx, sql);
      });
      expect(seen).toBe(0);
      // The owner's own queries through the same pool, while sasync uses it.
      const runner = ds.createQueryRunner();
      try {
        for (let i = 0; i < 3; i++) await runner.query(sql, [i]);
        expect(await prepared(runner.manager, sql)).toBe(0);
      } finally {
        await runner.release();
      }
    } finally {
      await b.shutdown();
      await ds.destroy();
    }
  });
});
