import { lastValueFrom } from 'rxjs';
import { TimeoutError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { statementRunning } from '../support/running-statement';
import { pgAvailable, postgres } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

/** Runs for longer than the spec waits for the error: the error must not wait for it. */
const STRAY = 'SELECT pg_sleep(5)';

// postgres only: the check before COMMIT waits for the server there (for the
// ReadyForQuery behind a statement still on the wire), which is where a
// cancellation could slip in between "rolled back" and COMMIT.
(pgAvailable ? describe : describe.skip)(
  'a transaction cancelled while its COMMIT is being prepared [postgres]',
  () => {
    const clock = useVirtualClock();

    it('is told rolled back and commits nothing, though a statement it left un-awaited was still running [postgres]', () =>
      withItems(postgres, async (b) => {
        const stray = latch<Promise<void>>();
        const result = lastValueFrom(
          b.transact(
            async (tx) => {
              await tx.query(b.insertSql(), ['never']);
              // Still on the wire when the work returns: the check before COMMIT waits for it.
              stray.resolve(statementRunning(tx, 'postgres', STRAY));
              void tx.query(STRAY).catch(() => undefined);
              return 'returned';
            },
            { timeout: 300 },
          ),
        ).catch((e: unknown) => e);
        await await stray.promise;
        const cancelledAt = Date.now();
        await clock.current.advance(300);
        const error = await result;
        expect(error).toBeInstanceOf(TimeoutError);
        expect((error as TimeoutError).message).toMatch(/cancelled and rolled back/);
        expect((error as TimeoutError).outcomeUnknown).toBe(false);
        expect(Date.now() - cancelledAt).toBeLessThan(2500);
        await b.drain();
        expect(await b.names()).toEqual([]);
      }));
  },
);
