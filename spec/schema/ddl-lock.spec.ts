import { Client } from 'pg';
import { AccessBroker, TimeoutError } from '../../lib';
import { dialectFor } from '../../lib/dialect';
import { DDL_LOCK_KEY } from '../../lib/dialect/postgres/ddl';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

// On sqlite the DDL lock is the write lock, whose wait the busy timeout bounds already (SQLITE_BUSY).
(pgAvailable ? describe : describe.skip)('the DDL lock [postgres]', () => {
  let holder: Client;
  let broker: AccessBroker;
  beforeEach(async () => {
    holder = new Client({ connectionString: PG_URL });
    await holder.connect();
    broker = new AccessBroker(PG_URL);
    await broker.waitUntilRunning();
  });
  afterEach(async () => {
    await holder.end();
    await broker.shutdown();
  });

  const ddl = (work: () => Promise<unknown>, lockTimeout?: number) =>
    broker.transact((tx) => dialectFor(broker.dataSource.options).ddlTransaction(tx.queryRunner!, work, lockTimeout));

  it('fails with TimeoutError when another connection holds it past the bound, running nothing', async () => {
    // Held as sasync's DDL lock would be by another process creating tables or migrating.
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [DDL_LOCK_KEY]);
    const work = jest.fn(async () => undefined);
    const error = await ddl(work, 200).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ timeout: 200 });
    expect((error as Error).message).toMatch(/waited 200 ms for sasync's DDL lock.*nothing was changed/);
    expect(work).not.toHaveBeenCalled();
    // Given up, the lock is taken as soon as its holder lets go.
    await holder.query('SELECT pg_advisory_unlock($1::bigint)', [DDL_LOCK_KEY]);
    await expect(ddl(async () => 'made', 200)).resolves.toBe('made');
  });

  it("bounds only the wait for the lock: the work's statements keep the transaction's lock_timeout", async () => {
    const table = uniqueName('ddl_lock');
    const seen = await broker.transact(async (tx) => {
      await tx.query("SET LOCAL lock_timeout = '7s'");
      const inside = await dialectFor(broker.dataSource.options).ddlTransaction(tx.queryRunner!, async () => {
        await tx.query(`CREATE TABLE ${table} (id integer)`);
        return (await tx.query('SHOW lock_timeout')) as { lock_timeout: string }[];
      });
      return inside[0]!.lock_timeout;
    });
    expect(seen).toBe('7s');
    await broker.query(`DROP TABLE ${table}`);
  });
});
