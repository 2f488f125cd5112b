import { lastValueFrom } from 'rxjs';
import { PersistentDict } from '../../lib';
import { postgresLog } from '../../lib/changes/postgres-log';
import { prune } from '../../lib/changes/retention';
import { pruneNow, remoteSettled } from '../../lib/stores/cached-store';
import { nextChange, RawSql } from '../support/stores';
import { within } from '../support/streams';
import { fileAndPg, ph, uniqueName } from '../support/targets';
import { ownLog } from './log-targets';

/**
 * Pruning the change log does not hold writers up. On postgres a prune is
 * a transaction of its own whose DELETE locks only the old rows it
 * removes, so a write (which appends new ones) commits while a prune is
 * still open, however long it stays open. sqlite has one writer at a time:
 * there the prune is one short transaction, and a write issued while it
 * runs completes right after it.
 */
describe.each(fileAndPg)('pruning and writers [$name]', (t) => {
  it(`a write completes while a prune runs [${t.name}]`, async () => {
    const { target, drop } = await ownLog(t);
    const group = uniqueName('g');
    const writer = new PersistentDict<string, number>(group, target, { changeLog: { maxCount: 1 } });
    const reader = new PersistentDict<string, number>(group, target);
    const raw = new RawSql(target);
    try {
      for (let i = 0; i < 20; i++) await writer.set(`k${i}`, i);
      await reader.loadAll();
      await within(reader[remoteSettled](), 'the reader settles');
      const heard = nextChange(reader.changes$, (c) => c.key === 'during' && c.value === 1);
      if (raw.dialect === 'postgres') {
        // A prune held open after its DELETE (its row locks held) until the write below has committed.
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        let deleted!: (removed: number) => void;
        const pruned = new Promise<number>((resolve) => (deleted = resolve));
        const pruning = lastValueFrom(
          raw.broker.transact(async (tx) => {
            const query = async <T>(s: { sql: string; parameters: unknown[] }) =>
              (await tx.query(s.sql, s.parameters)) as T[];
            const p = (n: number) => ph('postgres', n);
            deleted(await prune(query, postgresLog, p, { maxAge: 86_400_000, maxCount: 1 }, Date.now()));
            await held;
          }),
          { defaultValue: undefined },
        );
        try {
          expect(await within(pruned, 'the prune deleted')).toBeGreaterThan(0);
          await within(writer.set('during', 1), 'a write while the prune is open', 5000);
        } finally {
          release();
          await pruning;
        }
      } else {
        const pruning = writer[pruneNow]();
        const writing = writer.set('during', 1);
        const [removed] = await within(Promise.all([pruning, writing]), 'the prune and the write');
        expect(removed).toBeGreaterThan(0);
      }
      // Its entry is delivered as any other.
      await within(heard, 'the write heard by the reader');
    } finally {
      await writer.shutdown();
      await reader.shutdown();
      await raw.shutdown();
      await drop();
    }
  });
});
