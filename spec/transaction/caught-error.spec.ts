import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { withItems } from '../support/brokers';
import { allTargets, pgAvailable, postgres } from '../support/targets';

const BAD_SQL = 'SELECT * FROM no_such_table_sasync_caught';

describe.each(allTargets)('work that catches a failed statement [$name]', (t) => {
  it(`is acknowledged only if what it wrote is committed [${t.name}]`, () =>
    withItems(t, async (b) => {
      const outcome = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['outer']);
          await tx.query(BAD_SQL).catch(() => 'caught: the work goes on');
          return 'returned';
        }),
      ).catch((error: unknown) => error);
      const names = await b.names();
      if (t.dialect === 'postgres') {
        // postgres aborted the transaction at the failed statement: COMMIT would be a silent ROLLBACK.
        expect(outcome).toBeInstanceOf(TransactionError);
        expect((outcome as TransactionError).code).toBe('25P02');
        expect((outcome as TransactionError).message).toMatch(/savepoint: true/);
        expect(names).toEqual([]);
      } else {
        // sqlite goes on after a failed statement: the transaction commits what it wrote.
        expect(outcome).toBe('returned');
        expect(names).toEqual(['outer']);
      }
      // The broker keeps serving.
      await lastValueFrom(b.query(b.insertSql(), ['after']));
      expect(await b.names()).toContain('after');
    }));

  it(`commits when the failing part runs in a savepoint and its error is caught [${t.name}]`, () =>
    withItems(t, async (b) => {
      const outcome = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['outer']);
          const part = b.transact((inner) => inner.query(BAD_SQL), { savepoint: true });
          await lastValueFrom(part).catch(() => 'caught');
          await tx.query(b.insertSql(), ['after the part']);
          return 'returned';
        }),
      );
      expect(outcome).toBe('returned');
      expect(await b.names()).toEqual(['outer', 'after the part']);
    }));
});

(pgAvailable ? describe : describe.skip)('a joined part whose SQL error is caught [postgres]', () => {
  it('fails the outer transaction instead of acknowledging a silent ROLLBACK [postgres]', () =>
    withItems(postgres, async (b) => {
      const outcome = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(b.insertSql(), ['outer']);
          await lastValueFrom(b.transact((inner) => inner.query(BAD_SQL))).catch(() => 'caught');
        }),
      ).catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(TransactionError);
      expect(await b.names()).toEqual([]);
    }));
});
