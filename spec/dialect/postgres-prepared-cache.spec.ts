import { lastValueFrom } from 'rxjs';
import { Client } from 'pg';
import { DataSource, type EntityManager } from 'typeorm';
import { AccessBroker, TransactionError } from '../../lib';
import { STATEMENT_PREFIX, StatementCache } from '../../lib/dialect/postgres/statement-cache';
import type { PgClient } from '../../lib/dialect/typeorm/pg-client';
import { autoPrepare } from '../../lib/dialect/typeorm/pg-prepare';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** This process's statement names, as a LIKE pattern (the prefix is letters, digits and one `_`). */
const OUR_NAMES = STATEMENT_PREFIX.replace('_', '\\_');

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
    "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE $1 || '\\_%\\_%'",
    [OUR_NAMES],
  );
  return rows[0]!.n;
}

describe('StatementCache', () => {
  it('names SQL on its second sight, keeps at most `limit`, least recently used out first, never reusing a name', () => {
    const cache = new StatementCache(2);
    expect(cache.nameFor('a')).toBeUndefined();
    const a = cache.nameFor('a');
    expect(a).toMatch(/^sasync_[0-9a-z]{6}_\d+_\d+$/);
    expect(a!.startsWith(`${STATEMENT_PREFIX}_`)).toBe(true);
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

  it("gives each client (cache) its own names: the process's random prefix and the client's number", () => {
    const [one, two] = [new StatementCache(), new StatementCache()];
    for (const cache of [one, two]) cache.nameFor('x');
    const [x1, x2] = [one.nameFor('x')!, two.nameFor('x')!];
    expect(x1).not.toBe(x2);
    const [, client1, n1] = /_(\d+)_(\d+)$/.exec(x1)!;
    const [, client2, n2] = /_(\d+)_(\d+)$/.exec(x2)!;
    expect({ n1, n2, clients: Number(client2) - Number(client1) }).toEqual({ n1: '1', n2: '1', clients: 1 });
    expect(x1.slice(0, -`_${client1}_1`.length)).toBe(STATEMENT_PREFIX);
    expect(`${STATEMENT_PREFIX}_${Number.MAX_SAFE_INTEGER}_${Number.MAX_SAFE_INTEGER}`.length).toBeLessThanOrEqual(63);
  });
});

describePg('evicting a statement on one pg client [postgres]', () => {
  let client: Client;
  const A = 'SELECT $1::int + 1 AS a';
  const B = 'SELECT $1::int + 2 AS b';
  /** Without values, so never prepared itself (it would take the cache's one place). */
  const ours = async (): Promise<string[]> => {
    const { rows } = await client.query<{ name: string }>(
      `SELECT name FROM pg_prepared_statements WHERE name LIKE '${OUR_NAMES}\\_%' ORDER BY name`,
    );
    return rows.map((r) => r.name);
  };
  beforeEach(async () => {
    client = new Client({ connectionString: PG_URL });
    await client.connect();
    autoPrepare(client as unknown as PgClient, 1); // a cache of one statement: the second evicts the first
    for (let i = 0; i < 2; i++) await client.query(A, [1]);
  });
  afterEach(() => client.end());

  it('a query queued before the DEALLOCATE still runs its statement; the DEALLOCATE then drops it', async () => {
    const [a] = await ours();
    expect(a).toBeDefined();
    // 'SELECT 1' (no values, never prepared) holds the client, so the rest wait in its queue:
    // A (named a), B (unnamed, first sight), DEALLOCATE a, B (named afresh).
    const results = await Promise.allSettled([
      client.query('SELECT 1'),
      client.query(A, [1]),
      client.query(B, [1]),
      client.query(B, [2]),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.rows : `${(r.reason as Error).message}`))).toEqual([
      [{ '?column?': 1 }],
      [{ a: 2 }],
      [{ b: 3 }],
      [{ b: 4 }],
    ]);
    const left = await ours();
    expect(left).toHaveLength(1);
    expect(left).not.toContain(a);
    // A again: first sight since it was given up, then prepared under a new name.
    for (let i = 0; i < 2; i++) expect((await client.query(A, [i])).rows).toEqual([{ a: i + 1 }]);
    expect(await ours()).not.toContain(a);
  });

  it('a DEALLOCATE refused in an aborted transaction is sent again with a later statement', async () => {
    const [a] = await ours();
    await client.query('BEGIN');
    // 1/0 aborts the transaction while B's second sight (evicting a) queues its DEALLOCATE behind it.
    const results = await Promise.allSettled([client.query('SELECT 1/0'), client.query(B, [1]), client.query(B, [1])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    await client.query('ROLLBACK');
    expect(await ours()).toContain(a);
    expect((await client.query(B, [5])).rows).toEqual([{ b: 7 }]); // sends the DEALLOCATE first
    expect(await ours()).not.toContain(a);
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

  // A stale plan after a schema change: spec/dialect/postgres-stale-plan.spec.ts.

  describe('a 0A000 (feature_not_supported) that is not a stale plan', () => {
    let seq: string;
    let fn: string;
    beforeEach(async () => {
      seq = uniqueName('calls');
      fn = uniqueName('unsupported');
      await lastValueFrom(b.query(`CREATE SEQUENCE ${seq}`));
      await lastValueFrom(
        b.query(
          `CREATE FUNCTION ${fn}(i int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN PERFORM nextval('${seq}'); ` +
            `RAISE EXCEPTION 'not supported' USING ERRCODE = '0A000'; END $$`,
        ),
      );
    });
    afterEach(async () => {
      await lastValueFrom(b.query(`DROP FUNCTION IF EXISTS ${fn}(int)`));
      await lastValueFrom(b.query(`DROP SEQUENCE IF EXISTS ${seq}`));
    });
    const calls = async () =>
      (await lastValueFrom(b.query<{ n: number }>(`SELECT last_value::int AS n FROM ${seq}`)))[0]!.n;

    it('runs once per call, prepared or not, and a transaction with retry runs once', async () => {
      const call = `SELECT ${fn}($1)`;
      for (let i = 0; i < 3; i++) {
        const error = await lastValueFrom(b.query(call, [i])).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: '0A000', sql: call });
      }
      expect(await lastValueFrom(b.transact((tx) => prepared(tx, call)))).toBe(1); // it was named
      expect(await calls()).toBe(3);

      let runs = 0;
      const failed = await lastValueFrom(
        b.transact(
          (tx) => {
            runs++;
            return tx.query(call, [9]);
          },
          { retry: 2 },
        ),
      ).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(TransactionError);
      expect({
        runs,
        code: (failed as TransactionError).code,
        attempts: (failed as TransactionError).attempts,
      }).toEqual({ runs: 1, code: '0A000', attempts: 1 });
      expect(await calls()).toBe(4);
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
