import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { withItems } from '../support/brokers';
import { pgAvailable, postgres } from '../support/targets';

// postgres only: the check before COMMIT waits for the server there (for the
// ReadyForQuery behind a statement still on the wire), which is where a
// cancellation could slip in between "rolled back" and COMMIT.
(pgAvailable ? describe : describe.skip)(
  'a transaction cancelled while its COMMIT is being prepared [postgres]',
  () => {
    it('is told rolled back and commits nothing, though a statement it left un-awaited was still running [postgres]', () =>
      withItems(postgres, async (b) => {
        const started = Date.now();
        const error = await lastValueFrom(
          b.transact(
            async (tx) => {
              await tx.query(b.insertSql(), ['never']);
              // Still on the wire when the work returns: the check before COMMIT waits for it.
              void tx.query('SELECT pg_sleep(1.5)').catch(() => undefined);
              return 'returned';
            },
            { timeout: 300 },
          ),
        ).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(TransactionError);
        expect((error as Error).message).toMatch(/cancelled and rolled back/);
        expect(Date.now() - started).toBeLessThan(1300);
        await b.drain();
        expect(await b.names()).toEqual([]);
      }));
  },
);
