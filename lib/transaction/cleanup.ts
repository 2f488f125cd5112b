import type { QueryRunner } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { clock, type TimerHandle } from '../clock';

/**
 * How long a cancelled transaction's cleanup (interrupting its statement,
 * ROLLBACK) may take before its connection is destroyed instead: a server
 * that does not answer (frozen, unreachable) must not hold the queue slot.
 */
export const CLEANUP_GRACE_MS = 1000;

/**
 * Ends a cancelled transaction: interrupts its statement and rolls back,
 * unless that takes longer than {@link CLEANUP_GRACE_MS} (on the
 * {@link clock}); then the connection is destroyed (the server rolls back
 * when it notices). Where a connection cannot be destroyed apart (sqlite's
 * one), it waits for the ROLLBACK: the next transaction must not run in this
 * one. `nested`: a savepoint is still open, so the connection is discarded
 * rather than rolled back (TypeORM's ROLLBACK would only end the savepoint).
 * Never rejects; the caller releases the runner after.
 */
export async function abandon(db: SharedDatabase, runner: QueryRunner, nested: boolean, err: unknown): Promise<void> {
  const tidy = (async () => {
    const interrupted = await db.dialect.interrupt(runner).catch(() => false);
    if (!nested && runner.isTransactionActive) await rollback(db, runner);
    if (interrupted || nested) await db.dialect.discard(runner, err).catch(() => undefined);
  })().catch(() => undefined);
  let timer: TimerHandle;
  const grace = new Promise<'late'>((resolve) => (timer = clock.setTimeout(() => resolve('late'), CLEANUP_GRACE_MS)));
  const outcome = await Promise.race([tidy, grace]);
  clock.clearTimeout(timer);
  if (outcome !== 'late') return;
  if (db.dialect.capabilities.destroysConnections) await db.dialect.destroy!(runner).catch(() => undefined);
  else await tidy;
}

/** ROLLBACK; if that fails, the connection is discarded (never reused in an unknown state). */
export async function rollback(db: SharedDatabase, runner: QueryRunner): Promise<void> {
  try {
    await runner.rollbackTransaction();
  } catch (err) {
    await db.dialect.discard(runner, err);
  }
}
