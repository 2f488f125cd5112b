import { lastValueFrom } from 'rxjs';
import sqlite3 from 'sqlite3';
import { AccessBroker, resolveTarget, TransactionError } from '../../lib';
import { latch } from '../support/brokers';
import { pgAvailable, postgres, sqliteFile, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

describePg('retry of serialization failures [postgres]', () => {
  let b: AccessBroker;
  let counter: string;
  beforeAll(async () => {
    b = new AccessBroker(postgres.target());
    counter = uniqueName('counter');
    await b.table(counter, [
      { name: 'id', type: 'integer', primary: true },
      { name: 'n', type: 'integer' },
    ]);
  });
  beforeEach(async () => {
    await lastValueFrom(b.query(`DELETE FROM ${counter}`));
    await lastValueFrom(b.query(`INSERT INTO ${counter} (id, n) VALUES (1, 0)`));
  });
  afterAll(async () => {
    await lastValueFrom(b.query(`DROP TABLE ${counter}`));
    await b.shutdown();
  });

  /**
   * Two SERIALIZABLE read-then-write increments that both read before either
   * writes (on their first attempt): postgres must fail one with 40001.
   */
  function conflictingIncrements(retry: number | undefined) {
    const bothRead = latch();
    let reads = 0;
    const attempts = [0, 0];
    const increment = (who: 0 | 1) =>
      lastValueFrom(
        b.transact(
          async (tx) => {
            attempts[who]!++;
            const [{ n }] = await tx.query(`SELECT n FROM ${counter} WHERE id = 1`);
            if (attempts[who] === 1 && ++reads === 2) bothRead.resolve();
            if (attempts[who] === 1) await bothRead.promise;
            await tx.query(`UPDATE ${counter} SET n = $1 WHERE id = 1`, [n + 1]);
            return n + 1;
          },
          { isolation: 'SERIALIZABLE', retry },
        ),
      );
    return { results: Promise.allSettled([increment(0), increment(1)]), attempts };
  }

  it('commits both conflicting transactions with retry: 3 and the counter is exact', async () => {
    const { results, attempts } = conflictingIncrements(3);
    const settled = await results;
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled']);
    const [row] = await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${counter} WHERE id = 1`));
    const n = row!.n;
    expect(n).toBe(2);
    expect(attempts[0]! + attempts[1]!).toBeGreaterThan(2);
  });

  it('fails one of them with TransactionError whose cause.code is 40001 without retry', async () => {
    const { results } = conflictingIncrements(undefined);
    const settled = await results;
    const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
    expect(failures).toHaveLength(1);
    const error = failures[0]!.reason as TransactionError;
    expect(error).toBeInstanceOf(TransactionError);
    expect((error.cause as { code: string }).code).toBe('40001');
    expect(error.code).toBe('40001');
    expect(error.message).toMatch(/retry/);
    const [row] = await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${counter} WHERE id = 1`));
    const n = row!.n;
    expect(n).toBe(1);
  });

  it('re-throws the original error after the last attempt when the failure keeps happening', async () => {
    let attempts = 0;
    const always = b.transact(
      async (tx) => {
        attempts++;
        await tx.query(`UPDATE ${counter} SET n = n + 1 WHERE id = 1`);
        await tx.query(`DO $$ BEGIN RAISE EXCEPTION 'conflict %', 1 USING ERRCODE = 'serialization_failure'; END $$`);
      },
      { retry: 2 },
    );
    const error = (await lastValueFrom(always).catch((e: unknown) => e)) as TransactionError;
    expect(attempts).toBe(3);
    expect(error).toBeInstanceOf(TransactionError);
    expect(error.attempts).toBe(3);
    expect((error.cause as Error & { code: string }).code).toBe('40001');
    expect((error.cause as Error).message).toMatch(/conflict 1/);
    // Every attempt rolled back.
    const [row] = await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${counter} WHERE id = 1`));
    const n = row!.n;
    expect(n).toBe(0);
  });

  it('does not retry errors that re-running cannot fix', async () => {
    let attempts = 0;
    const bad = b.transact(async (tx) => (attempts++, tx.query('SELECT * FROM no_such_table_at_all')), { retry: 3 });
    await expect(lastValueFrom(bad)).rejects.toMatchObject({ code: '42P01', attempts: 1 });
    expect(attempts).toBe(1);
  });
});

describe('retry when another process holds the lock [sqlite-file]', () => {
  it('retries SQLITE_BUSY and succeeds once the lock is gone, or re-throws after the last attempt', async () => {
    const target = sqliteFile.target();
    const file = resolveTarget(target).options.database as string;
    // busyTimeout 1: fail fast with SQLITE_BUSY instead of waiting 5 s.
    const b = new AccessBroker({ ...resolveTarget(target).options, busyTimeout: 1 } as never);
    await b.table('t', [{ name: 'n', type: 'integer' }]);
    const other = new sqlite3.Database(file);
    const run = (sql: string) => new Promise<void>((res, rej) => other.run(sql, (e) => (e ? rej(e) : res())));
    await run('BEGIN IMMEDIATE');
    let attempts = 0;
    const insert = (retry: number) =>
      lastValueFrom(b.transact(async (tx) => (attempts++, tx.query('INSERT INTO t (n) VALUES (1)')), { retry }));

    const error = (await insert(2).catch((e: unknown) => e)) as TransactionError;
    expect(error).toBeInstanceOf(TransactionError);
    expect(error.code).toBe('SQLITE_BUSY');
    expect(attempts).toBe(3);

    attempts = 0;
    const retried = insert(50);
    // Once an attempt has failed on the lock, the other process lets go.
    while (attempts < 2) await new Promise((r) => setImmediate(r));
    await run('ROLLBACK');
    await expect(retried).resolves.toBeDefined();
    expect(attempts).toBeGreaterThan(1);
    const rows = await lastValueFrom(b.query<{ c: number }>('SELECT count(*) AS c FROM t'));
    expect(rows[0]!.c).toBe(1);
    await new Promise<void>((res) => other.close(() => res()));
    await b.shutdown();
  });
});
