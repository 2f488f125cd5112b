import { lastValueFrom } from 'rxjs';
import {
  EventSubscriber,
  type DataSourceOptions,
  type EntitySubscriberInterface,
  type TransactionCommitEvent,
} from 'typeorm';
import { CancelledError, commitWith, resolveTarget, TransactionError } from '../../lib';
import { postgresAddress, startLatencyProxy, throughProxy, type LatencyProxy } from '../../bench/latency-proxy';
import { Client } from 'pg';
import { expectPoolWhole, ItemsBroker, latch, withItems } from '../support/brokers';
import { statementRunning } from '../support/running-statement';
import { installVirtualClock } from '../support/virtual-clock';
import { allTargets, PG_URL, pgAvailable, ph, postgres, type TestTarget } from '../support/targets';

/** commitWith(): the transaction's last statement, with COMMIT right behind it. */
describe.each(allTargets)('commitWith [$name]', (t) => {
  const insert = (b: ItemsBroker) => b.insertSql();
  const byName = (b: ItemsBroker) => `SELECT name FROM ${b.itemsTable} WHERE name = ${ph(t.dialect, 1)}`;

  it("resolves with the statement's result once committed, and the transaction with what the work returns", () =>
    withItems(t, async (b) => {
      const got = await lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert(b), ['a']);
          const rows = await commitWith<{ name: string }[]>(tx, byName(b), ['a']);
          return rows.map((r) => r.name);
        }),
      );
      expect(got).toEqual(['a']);
      expect(await b.names()).toEqual(['a']);
      // A transaction of one statement.
      await lastValueFrom(b.transact((tx) => commitWith(tx, insert(b), ['b'])));
      expect(await b.names()).toEqual(['a', 'b']);
      expectPoolWhole(b);
    }));

  it('rolls back when its statement fails, reporting that statement, even if the work catches the error', () =>
    withItems(t, async (b) => {
      const failing = `INSERT INTO ${b.itemsTable} (id, name) VALUES (${ph(t.dialect, 1)}, ${ph(t.dialect, 2)})`;
      // An id far above what the table's sequence hands out: only the statements below collide with it.
      await lastValueFrom(b.transact((tx) => tx.query(failing, [1000, 'first'])));
      const propagated = lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert(b), ['kept-not']);
          return commitWith(tx, failing, [1000, 'duplicate']);
        }),
      );
      await expect(propagated).rejects.toThrow(TransactionError);
      await expect(propagated).rejects.toMatchObject({ sql: failing, committed: false });
      let caught: unknown;
      const swallowed = lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert(b), ['caught-not']);
          try {
            await commitWith(tx, failing, [1000, 'duplicate']);
          } catch (err) {
            caught = err;
          }
          return 'returned anyway';
        }),
      );
      // The statement's own error, not a success: nothing the transaction wrote was kept.
      await expect(swallowed).rejects.toMatchObject({ sql: failing, committed: false });
      expect(caught).toBeDefined();
      expect(await b.names()).toEqual(['first']);
      // The broker keeps serving.
      await lastValueFrom(b.transact((tx) => commitWith(tx, insert(b), ['after'])));
      expect((await b.names()).sort()).toEqual(['after', 'first']);
      expectPoolWhole(b);
    }));

  it('refuses statements after it, and tells work that fails after it that it committed (never re-run)', () =>
    withItems(t, async (b) => {
      let runs = 0;
      const more = lastValueFrom(
        b.transact(
          async (tx) => {
            runs++;
            await commitWith(tx, insert(b), ['committed-1']);
            await tx.query(insert(b), ['refused']);
          },
          { retry: 3 },
        ),
      );
      await expect(more).rejects.toMatchObject({ committed: true, attempts: 1 });
      await expect(more).rejects.toThrow(
        /committed \(commitWith\), but its work failed after that: this transaction has already ended/,
      );
      const thrown = lastValueFrom(
        b.transact(async (tx) => {
          await commitWith(tx, insert(b), ['committed-2']);
          throw new Error('boom');
        }),
      );
      await expect(thrown).rejects.toMatchObject({ committed: true, message: expect.stringMatching(/boom/) });
      // events$ tells it by the error: rolledBack's error says it committed.
      const outcomes: unknown[] = [];
      const watching = b.events$.subscribe((e) => {
        if (e.type === 'rolledBack' || e.type === 'committed')
          outcomes.push(e.type === 'rolledBack' ? e.error : e.type);
      });
      await expect(
        lastValueFrom(
          b.transact(async (tx) => {
            await commitWith(tx, insert(b), ['committed-ev']);
            throw new Error('after');
          }),
        ),
      ).rejects.toMatchObject({ committed: true });
      watching.unsubscribe();
      expect(outcomes).toEqual([expect.objectContaining({ committed: true })]);
      expect(runs).toBe(1);
      expect(await b.names()).toEqual(['committed-1', 'committed-2', 'committed-ev']);
      // A second commitWith in the same transaction is a statement after the first.
      await expect(
        lastValueFrom(
          b.transact(async (tx) => {
            await commitWith(tx, insert(b), ['committed-3']);
            return commitWith(tx, insert(b), ['refused-too']);
          }),
        ),
      ).rejects.toMatchObject({ committed: true });
      expect(await b.names()).toEqual(['committed-1', 'committed-2', 'committed-ev', 'committed-3']);
      expectPoolWhole(b);
    }));

  it('is re-run by retry when its statement fails as retryable, as any transaction', () =>
    withItems(t, async (b) => {
      let attempts = 0;
      // A statement that fails as a serialization failure (postgres) or as busy (sqlite) on the first attempt only.
      const conflict =
        t.dialect === 'postgres' ? "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$" : undefined;
      const got = await lastValueFrom(
        b.transact(
          async (tx) => {
            attempts++;
            await tx.query(insert(b), [`try-${attempts}`]);
            if (attempts === 1 && conflict) return commitWith(tx, conflict);
            if (attempts === 1)
              throw Object.assign(new Error('SQLITE_BUSY: database is locked'), { code: 'SQLITE_BUSY' });
            return commitWith<unknown>(tx, byName(b), [`try-${attempts}`]);
          },
          { retry: 2 },
        ),
      );
      expect(got).toEqual([{ name: 'try-2' }]);
      expect(attempts).toBe(2);
      expect(await b.names()).toEqual(['try-2']);
    }));

  it('refuses what is not a transaction manager, SQL that is not a string, and parameters that are not an array', () =>
    withItems(t, async (b) => {
      await expect(commitWith({}, 'SELECT 1')).rejects.toThrow(/takes the manager a transaction’s work was given/);
      await expect(commitWith(b.dataSource.manager, 'SELECT 1')).rejects.toThrow(TypeError);
      await expect(lastValueFrom(b.transact((tx) => commitWith(tx, 42 as unknown as string)))).rejects.toThrow(
        /takes the statement as a string/,
      );
      await expect(
        lastValueFrom(b.transact((tx) => commitWith(tx, insert(b), 'x' as unknown as unknown[]))),
      ).rejects.toThrow(/parameters as an array/);
      // A manager kept after its transaction ended.
      const kept = await lastValueFrom(b.transact(async (tx) => tx));
      await expect(commitWith(kept, insert(b), ['late'])).rejects.toThrow(/already ended/);
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it('refuses to end the transaction from a savepoint part, a joined nested transaction, or while one runs', () =>
    withItems(t, async (b) => {
      const inSavepoint = lastValueFrom(
        b.transact(async () =>
          lastValueFrom(b.transact((inner) => commitWith(inner, insert(b), ['sp']), { savepoint: true })),
        ),
      );
      await expect(inSavepoint).rejects.toThrow(/not in a \{ savepoint: true \} part/);
      const joined = lastValueFrom(
        b.transact(async (outer) => lastValueFrom(b.transact(() => commitWith(outer, insert(b), ['joined'])))),
      );
      await expect(joined).rejects.toThrow(/a nested transaction or \{ savepoint: true \} part is still running/);
      const whileSavepoint = lastValueFrom(
        b.transact(async (outer) => {
          const part = lastValueFrom(b.transact((inner) => inner.query(insert(b), ['part']), { savepoint: true }));
          try {
            return await commitWith(outer, insert(b), ['outer']);
          } finally {
            await part.catch(() => undefined);
          }
        }),
      );
      await expect(whileSavepoint).rejects.toThrow(TransactionError);
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it('is bounded by timeout: a last statement that hangs is cancelled and nothing is kept', () =>
    withItems(t, async (b) => {
      // postgres: the last statement waits for an advisory lock another session holds; sqlite (whose
      // statements cannot be made to wait here) the work waits before it. Either ends only by the
      // timeout, moved on a virtual clock once the wait has begun.
      const time = installVirtualClock();
      const holder = t.dialect === 'postgres' ? new Client({ connectionString: PG_URL }) : undefined;
      try {
        const lock = 7_012_002;
        await holder?.connect();
        await holder?.query('SELECT pg_advisory_lock($1)', [lock]);
        const waiting = latch();
        const hang = lastValueFrom(
          b.transact(
            async (tx) => {
              await tx.query(insert(b), ['hung']);
              if (t.dialect !== 'postgres') {
                waiting.resolve();
                return new Promise<never>(() => undefined);
              }
              const sql = 'SELECT pg_advisory_xact_lock($1)';
              const running = statementRunning(tx, 'postgres', sql);
              const last = commitWith(tx, sql, [lock]);
              void running.then(waiting.resolve);
              return last;
            },
            { timeout: 300 },
          ),
        );
        hang.catch(() => undefined);
        await waiting.promise;
        await time.advance(300);
        await expect(hang).rejects.toThrow(CancelledError);
        await b.drain();
      } finally {
        time.uninstall();
        await holder?.end();
      }
      expect(await b.names()).toEqual([]);
      await lastValueFrom(b.transact((tx) => commitWith(tx, insert(b), ['after'])));
      expect(await b.names()).toEqual(['after']);
      expectPoolWhole(b);
    }));
});

const describePg = pgAvailable ? describe : describe.skip;

/** What BeforeCommit saw. */
const log: string[] = [];

/** A subscriber that sends a statement of its own before each COMMIT. */
@EventSubscriber()
class BeforeCommit implements EntitySubscriberInterface {
  async beforeTransactionCommit(event: TransactionCommitEvent): Promise<void> {
    log.push('before');
    await event.queryRunner.query('SELECT 1');
  }
}

describePg('commitWith sends COMMIT with the last statement [postgres]', () => {
  let proxy: LatencyProxy;
  beforeAll(async () => {
    proxy = await startLatencyProxy({ to: postgresAddress(PG_URL), delayMs: 1 });
  });
  afterAll(() => proxy.close());

  /** Round trips per call of `run`, over 5 calls after one to warm the connection up. */
  async function roundTripsOf(run: (i: number) => Promise<unknown>): Promise<number> {
    await run(-1);
    const before = proxy.roundTrips();
    for (let i = 0; i < 5; i++) await run(i);
    return (proxy.roundTrips() - before) / 5;
  }

  function through(t: TestTarget) {
    return throughProxy(t.target() as string, proxy);
  }

  it('takes 2 round trips for BEGIN, INSERT, SELECT, COMMIT (3 without it), and 1 for a transaction of one statement', () =>
    withItems(
      postgres,
      async (b) => {
        const select = `SELECT name FROM ${b.itemsTable} WHERE name = $1`;
        const small = (last: boolean) => (i: number) =>
          lastValueFrom(
            b.transact(async (tx) => {
              await tx.query(b.insertSql(), [`${last}-${i}`]);
              return last ? commitWith(tx, select, [`${last}-${i}`]) : tx.query(select, [`${last}-${i}`]);
            }),
          );
        const withIt = await roundTripsOf(small(true));
        const without = await roundTripsOf(small(false));
        const one = await roundTripsOf((i) =>
          lastValueFrom(b.transact((tx) => commitWith(tx, b.insertSql(), [`one-${i}`]))),
        );
        expect({ withIt, without, one }).toEqual({ withIt: 2, without: 3, one: 1 });
        expect((await b.names()).length).toBe(18);
      },
      through(postgres),
    ));

  it('waits for the answer first when a subscriber acts before commits, whose statement still runs in the transaction', async () => {
    const options = { ...resolveTarget(through(postgres)).options, subscribers: [BeforeCommit] } as DataSourceOptions;
    await withItems(
      postgres,
      async (b) => {
        log.length = 0;
        const trips = await roundTripsOf((i) =>
          lastValueFrom(
            b.transact(async (tx) => {
              await tx.query(b.insertSql(), [`s-${i}`]);
              return commitWith(tx, b.insertSql(), [`t-${i}`]);
            }),
          ),
        );
        // BEGIN + INSERT, INSERT, the subscriber's SELECT, COMMIT.
        expect({ trips, log: log.length, subscribers: b.dataSource.subscribers.length }).toEqual({
          trips: 4,
          log: 6,
          subscribers: 1,
        });
        expect(log.length).toBe(6);
        expect((await b.names()).length).toBe(12);
      },
      options,
    );
  });
});
