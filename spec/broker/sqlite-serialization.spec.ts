import { lastValueFrom } from 'rxjs';
import { DataSource } from 'typeorm';
import { resolveTarget, TransactionError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { sqliteFile, sqliteMemory, uniqueName } from '../support/targets';

describe.each([sqliteMemory, sqliteFile])('overlapping transactions on sqlite are serialized [$name]', (t) => {
  it('keeps the rows of A when B, started while A ran, fails after A committed', () =>
    withItems(t, async (b) => {
      const aInserted = latch();
      const releaseA = latch();
      const a = lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['A']);
          aInserted.resolve();
          await releaseA.promise;
          return 'A committed';
        }),
      );
      await aInserted.promise;
      const bWork = jest.fn(async (tx) => {
        await tx.query(b.insertSql(), ['B']);
        throw new Error('B fails');
      });
      const bResult = lastValueFrom(b.transact(bWork));
      // B is queued behind A, not nested inside it.
      await new Promise((r) => setImmediate(r));
      expect(bWork).not.toHaveBeenCalled();
      releaseA.resolve();
      await expect(a).resolves.toBe('A committed');
      await expect(bResult).rejects.toBeInstanceOf(TransactionError);
      expect(await b.names()).toEqual(['A']);
    }));
});

// Why sasync serializes sqlite itself: TypeORM 0.3.31 alone has one shared
// QueryRunner on sqlite, so B's BEGIN becomes a SAVEPOINT inside A; A's COMMIT
// only releases that savepoint, and B's later ROLLBACK rolls back A's rows too,
// although A's promise already resolved.
describe('TypeORM 0.3.31 used directly on sqlite [sqlite-file]', () => {
  it('loses the rows of A when B, started while A ran, fails after A resolved', async () => {
    const ds = new DataSource(resolveTarget(sqliteFile.target()).options);
    await ds.initialize();
    const table = uniqueName('items');
    await ds.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name varchar(40))`);
    const aInserted = latch();
    const bStarted = latch();
    const releaseB = latch();
    const a = ds.transaction(async (m) => {
      await m.query(`INSERT INTO ${table} (name) VALUES (?)`, ['A']);
      aInserted.resolve();
      await bStarted.promise;
    });
    await aInserted.promise;
    const bResult = ds.transaction(async (m) => {
      bStarted.resolve();
      await releaseB.promise;
      await m.query(`INSERT INTO ${table} (name) VALUES (?)`, ['B']);
      throw new Error('B fails');
    });
    await expect(a).resolves.toBeUndefined();
    releaseB.resolve();
    await expect(bResult).rejects.toThrow('B fails');
    expect(await ds.query(`SELECT name FROM ${table}`)).toEqual([]);
    await ds.destroy();
  });
});
