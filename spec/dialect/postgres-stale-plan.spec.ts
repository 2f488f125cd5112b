import { Client } from 'pg';
import type { EntityManager } from 'typeorm';
import { AccessBroker, TransactionError, type Prepared, type TransactOptions } from '../../lib';
import type { PgClient } from '../../lib/dialect/typeorm/pg-client';
import { autoPrepare } from '../../lib/dialect/typeorm/pg-prepare';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/**
 * A named statement whose result type a real `ALTER TABLE … TYPE` changes
 * between two runs of the same SQL: the server answers its next run with
 * 0A000 "cached plan must not change result type". Which cases send it again
 * by themselves (the server refused it before running it, and nothing the
 * caller did is lost), and which leave it to the caller (or to `retry`).
 */
describePg('a stale cached plan (ALTER TABLE … TYPE between two runs of the same SQL) [postgres]', () => {
  let b: AccessBroker;
  let table: string;
  let select: string;
  let insert: string;
  /** The backend every call runs on (two connections, the least allowed: pg-pool hands out the one released last). */
  let pid: number;

  beforeEach(async () => {
    b = new AccessBroker(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}max=2`);
    table = uniqueName('retyped');
    select = `SELECT a, pg_backend_pid() AS pid FROM ${table} WHERE id = $1`;
    insert = `INSERT INTO ${table} (id, a) VALUES ($1, $2)`;
    await b.query(`CREATE TABLE ${table} (id int PRIMARY KEY, a int)`);
    await b.query(insert, [1, 5]);
    // Twice on one connection: now a named statement there, planned for `a int`.
    const runs = [await b.query<{ a: unknown; pid: number }>(select, [1]), await b.query(select, [1])];
    expect(runs.map((rows) => rows[0]!.a)).toEqual([5, 5]);
    pid = runs[0]![0]!.pid;
    expect(runs[1]![0]!.pid).toBe(pid);
    await b.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE text`);
  });
  afterEach(async () => {
    await b.query(`DROP TABLE IF EXISTS ${table}`);
    await b.shutdown();
  });

  /** `select`'s answer as the caller gets it: a as text proves it was planned afresh, on the connection that held it. */
  const fresh = [{ a: '5', pid: expect.any(Number) as number }];
  /** Makes `select` a named statement of the connection again, and stale again. */
  const staleAgain = async () => {
    for (let i = 0; i < 2; i++) await b.query(select, [1]); // named again: its second sight since it was given up
    await b.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE varchar(10)`);
  };
  const rows = async () => (await b.query<{ id: number }>(`SELECT id FROM ${table} ORDER BY id`)).map((r) => r.id);

  it('a statement in autocommit (query()) is sent again, unnamed, once, and the caller sees only its answer', async () => {
    const answer = await b.query<{ a: unknown; pid: number }>(select, [1]);
    expect(answer).toEqual(fresh);
    expect(answer[0]!.pid).toBe(pid);
    expect(await b.query(select, [1])).toEqual(fresh);
  });

  it.each<[string, TransactOptions]>([
    ['query() with a timeout (a transaction of its own)', { timeout: 30_000 }],
    ['query() with an isolation level (BEGIN and SET TRANSACTION before it)', { isolation: 'REPEATABLE READ' }],
  ])('%s: the transaction that had done nothing is begun again, the statement sent in it', async (_, options) => {
    const answer = await b.query<{ a: unknown; pid: number }>(select, [1], options);
    expect(answer).toEqual(fresh);
    expect(answer[0]!.pid).toBe(pid);
  });

  it("a transaction's first statement: sent again in a transaction begun afresh, the work runs once and commits", async () => {
    let runs = 0;
    const answer = await b.transact(async (tx) => {
      runs++;
      const seen: { a: unknown; pid: number }[] = await tx.query(select, [1]);
      await tx.query(insert, [2, 6]);
      return seen;
    });
    expect({ runs, answer, pid: answer[0]!.pid }).toEqual({ runs: 1, answer: fresh, pid });
    expect(await rows()).toEqual([1, 2]);
  });

  it("a savepoint's first statement: rolled back to the savepoint and sent again; the outer transaction's work is kept", async () => {
    const answer = await b.transact(async (tx) => {
      await tx.query(insert, [2, 6]);
      return b.transact((inner) => inner.query(select, [1]), { savepoint: true });
    });
    expect(answer).toEqual(fresh);
    expect(await rows()).toEqual([1, 2]);
  });

  it('later in a transaction: a TransactionError with 0A000 (what ran before is lost with it); with retry it runs again', async () => {
    let runs = 0;
    const work = async (tx: EntityManager) => {
      runs++;
      await tx.query(insert, [2 + runs, 6]);
      return tx.query(select, [1]);
    };
    const failed = await b.transact(work).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransactionError);
    expect(failed).toMatchObject({ code: '0A000', sql: select, attempts: 1 });
    expect({ runs, rows: await rows() }).toEqual({ runs: 1, rows: [1] });

    await staleAgain();
    runs = 0;
    expect(await b.transact(work, { retry: 1 })).toEqual(fresh);
    expect({ runs, rows: await rows() }).toEqual({ runs: 2, rows: [1, 4] });
  });

  it('sent together with a statement behind it (not awaited): not sent again, the transaction fails with 0A000; with retry it runs again', async () => {
    let runs = 0;
    const work = async (tx: EntityManager) => {
      runs++;
      await tx.query('SELECT 1');
      // The insert goes out behind the stale select, into the transaction the select's error aborts (25P02).
      const [seen] = await Promise.all([tx.query(select, [1]), tx.query(insert, [1 + runs, 6])]);
      return seen as unknown;
    };
    const failed = await b.transact(work).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransactionError);
    expect(failed).toMatchObject({ code: '0A000', sql: select });
    expect({ runs, rows: await rows() }).toEqual({ runs: 1, rows: [1] });

    await staleAgain();
    runs = 0;
    expect(await b.transact(work, { retry: 1 })).toEqual(fresh);
    expect({ runs, rows: await rows() }).toEqual({ runs: 2, rows: [1, 3] });
  });

  it('the first statement, sent together with one behind it: the transaction fails, and with retry runs again', async () => {
    let runs = 0;
    const work = async (tx: EntityManager) => {
      runs++;
      const [seen] = await Promise.all([tx.query(select, [1]), tx.query(insert, [1 + runs, 6])]);
      return seen as unknown;
    };
    // (The work sees the insert's 25P02 first here, not the select's 0A000: BEGIN goes out with the
    // first statement, whose answer then comes to the work after the next one's. Either way the
    // error is marked as a stale plan's doing, so that retry runs the transaction again.)
    const failed = await b.transact(work).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(TransactionError);
    expect({ runs, rows: await rows() }).toEqual({ runs: 1, rows: [1] });

    await staleAgain();
    runs = 0;
    expect(await b.transact(work, { retry: 1 })).toEqual(fresh);
    expect({ runs, rows: await rows() }).toEqual({ runs: 2, rows: [1, 3] });
  });
});

describePg(
  "a stale plan of broker.prepare()'s statement (named by sasync, parsed once per connection) [postgres]",
  () => {
    let b: AccessBroker;
    let table: string;
    let byId: Prepared<{ a: unknown; pid: number }>;
    let pid: number;

    beforeEach(async () => {
      b = new AccessBroker(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}max=2`);
      table = uniqueName('retyped_prepared');
      await b.query(`CREATE TABLE ${table} (id int PRIMARY KEY, a int)`);
      await b.query(`INSERT INTO ${table} (id, a) VALUES ($1, $2)`, [1, 5]);
      byId = b.prepare(uniqueName('by_id'), `SELECT a, pg_backend_pid() AS pid FROM ${table} WHERE id = $1`);
      const runs = [await byId.query([1]), await byId.query([1])];
      expect(runs.map((rows) => rows[0]!.a)).toEqual([5, 5]);
      pid = runs[0]![0]!.pid;
      expect(runs[1]![0]!.pid).toBe(pid);
      await b.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE text`);
    });
    afterEach(async () => {
      await b.query(`DROP TABLE IF EXISTS ${table}`);
      await b.shutdown();
    });

    const fresh = [{ a: '5', pid: expect.any(Number) as number }];
    /** How many statements of this SQL the connection holds (one: the stale one was deallocated first). */
    const held = () =>
      b.transact(async (tx) => {
        const rows: { n: number }[] = await tx.query(
          'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1',
          [byId.sql],
        );
        return rows[0]!.n;
      });

    it('in autocommit: deallocated, prepared again under its name, and answered', async () => {
      const answer = await byId.query([1]);
      expect(answer).toEqual(fresh);
      expect(answer[0]!.pid).toBe(pid);
      expect(await byId.query([1])).toEqual(fresh);
      expect(await held()).toBe(1);
    });

    it("as a transaction's first statement: the transaction begun afresh, the work runs once", async () => {
      let runs = 0;
      const answer = await b.transact(async () => {
        runs++;
        return byId.query([1]);
      });
      expect({ runs, answer, pid: answer[0]!.pid }).toEqual({ runs: 1, answer: fresh, pid });
    });

    it('later in a transaction: a TransactionError with 0A000, and the next run on the connection succeeds; with retry it runs again', async () => {
      const work = async (tx: EntityManager) => {
        await tx.query('SELECT 1');
        return byId.query([1]);
      };
      const failed = await b.transact(work).catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(TransactionError);
      expect(failed).toMatchObject({ code: '0A000', sql: byId.sql });
      // The stale statement is deallocated before the next statement on the connection, then parsed again.
      const next = await byId.query([1]);
      expect({ next, pid: next[0]!.pid }).toEqual({ next: fresh, pid });
      expect(await held()).toBe(1);

      await b.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE varchar(10)`);
      let runs = 0;
      const retried = await b.transact(async (tx) => (runs++, work(tx)), { retry: 1 });
      expect({ runs, retried }).toEqual({ runs: 2, retried: fresh });
    });
  },
);

describePg('a stale cached plan on one pg client in autocommit [postgres]', () => {
  let client: Client;
  let table: string;
  let select: string;
  beforeEach(async () => {
    client = new Client({ connectionString: PG_URL });
    await client.connect();
    autoPrepare(client as unknown as PgClient);
    table = uniqueName('retyped_client');
    select = `SELECT a FROM ${table} WHERE id = $1`;
    await client.query(`CREATE TABLE ${table} (id int PRIMARY KEY, a int)`);
    await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, [1, 5]);
    for (let i = 0; i < 2; i++) expect((await client.query(select, [1])).rows).toEqual([{ a: 5 }]);
    await client.query(`ALTER TABLE ${table} ALTER COLUMN a TYPE text`);
  });
  afterEach(async () => {
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.end();
  });

  it('alone, it is sent again and answers', async () => {
    expect((await client.query(select, [1])).rows).toEqual([{ a: '5' }]);
  });

  it('with a statement queued behind it, it is not sent again after that one: the caller gets the 0A000', async () => {
    // The update runs (autocommit) before the select could run again: sending it again would reorder them.
    const [selected, updated] = await Promise.allSettled([
      client.query(select, [1]),
      client.query(`UPDATE ${table} SET a = $1 WHERE id = $2`, ['6', 1]),
    ]);
    expect(selected).toMatchObject({ status: 'rejected', reason: { code: '0A000' } });
    expect(updated).toMatchObject({ status: 'fulfilled', value: { rowCount: 1 } });
    // Given up: the next run is planned afresh.
    expect((await client.query(select, [1])).rows).toEqual([{ a: '6' }]);
  });
});
