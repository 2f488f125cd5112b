import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

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
