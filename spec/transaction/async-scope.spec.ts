import { AsyncLocalStorage } from 'node:async_hooks';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom } from 'rxjs';
import { TransactionError } from '../../lib';
import { scopesActive } from '../../lib/transaction/async-scope';
import type { Logger, QueryRunner } from 'typeorm';
import { cancelledWhileWorking, withItems } from '../support/brokers';
import { within } from '../support/streams';
import { allTargets } from '../support/targets';

/** Nothing of sasync's is in flight: its AsyncLocalStorage is off (proved in a process of its own below). */
function expectIdle(): void {
  expect(scopesActive()).toBe(false);
}

const run = promisify(execFile);

describe.each(allTargets)('sasync keeps promise hooks on only while its work runs [$name]', (t) => {
  it('in a process of its own: no promise hook before, one during the work, none after each kind of work', async () => {
    const child = path.join(__dirname, '../support/async-scope-child.ts');
    const { stdout } = await run(process.execPath, [require.resolve('tsx/cli'), child, t.target()]);
    expect(JSON.parse(stdout)).toEqual({
      before: false,
      afterStartUp: false,
      inWork: true,
      inNested: true,
      afterTransactions: false,
      inRun: true,
      afterRun: false,
      afterOutsideCalls: false,
      afterShutdown: false,
    });
  });

  it('counts every kind of work while it runs, and nothing once it has all ended', () =>
    withItems(t, async (b) => {
      expectIdle();
      const seen = await lastValueFrom(
        b.transact(async (tx) => {
          const inside = scopesActive();
          // Nesting still works: joined, in a savepoint, and run() in place.
          const joined = await lastValueFrom(b.transact((inner) => inner === tx));
          await lastValueFrom(b.transact((inner) => inner.query(b.insertSql(), ['savepoint']), { savepoint: true }));
          const ran = await lastValueFrom(b.run(() => scopesActive()));
          return { inside, joined, ran, active: scopesActive() };
        }),
      );
      expect(seen).toEqual({ inside: true, joined: true, ran: true, active: true });
      expectIdle();
      expect(await lastValueFrom(b.run(() => b.names()))).toEqual(['savepoint']);
      expectIdle();
    }));

  it('BEGIN and COMMIT run with the hooks off: only the work keeps them on (sqlite too, where the job holds its slot)', () =>
    withItems(t, async (b) => {
      const statements: { sql: string; active: boolean }[] = [];
      let work: boolean | undefined;
      // TypeORM logs every statement it sends (pipelined postgres sends BEGIN with the first statement, unlogged).
      const ds = b.dataSource as { logger: Logger };
      const logger = ds.logger;
      ds.logger = Object.assign(Object.create(logger) as Logger, {
        logQuery: (sql: string, parameters?: unknown[], runner?: QueryRunner) => {
          if (/^(BEGIN|START|COMMIT)/i.test(sql)) statements.push({ sql, active: scopesActive() });
          return logger.logQuery(sql, parameters, runner);
        },
      });
      try {
        await lastValueFrom(
          b.transact(async (tx) => {
            work = scopesActive();
            await tx.query(b.insertSql(), ['counted']);
          }),
        );
      } finally {
        ds.logger = logger;
      }
      expect(work).toBe(true);
      expect(statements.some((s) => /^COMMIT/i.test(s.sql))).toBe(true);
      expect(statements.filter((s) => s.active)).toEqual([]);
      expectIdle();
      expect(await b.names()).toEqual(['counted']);
    }));

  it('a TypeORM subscriber may query the DataSource inside BEGIN and COMMIT (sqlite: it does not wait for the slot the transaction holds)', () =>
    withItems(t, async (b) => {
      const ds = b.dataSource;
      const insert = (name: string) => ds.query(b.insertSql(), [name]);
      const subscriber = {
        afterTransactionStart: () => insert('after start'),
        beforeTransactionCommit: () => insert('before commit'),
      };
      ds.subscribers.push(subscriber);
      try {
        await within(
          lastValueFrom(b.transact((tx) => tx.query(b.insertSql(), ['work']))),
          'a transaction whose subscribers query the DataSource',
        );
      } finally {
        ds.subscribers.splice(ds.subscribers.indexOf(subscriber), 1);
      }
      expect((await b.names()).sort()).toEqual(['after start', 'before commit', 'work']);
      expectIdle();
    }));

  it('a cancelled transaction’s work that runs on keeps its scope (and the hooks) until it ends', () =>
    withItems(t, async (b) => {
      const { resume, nested } = await cancelledWhileWorking(b);
      // The transaction has ended, its work has not: still counted.
      expect(scopesActive()).toBe(true);
      resume();
      const refused = await nested;
      expect(refused).toBeInstanceOf(TransactionError);
      expect((refused as Error).message).toMatch(/already ended/);
      await b.drain();
      expectIdle();
      expect(await b.names()).toEqual([]);
    }));

  it('TypeORM calls from outside sasync (sqlite waits for the queue for them) leave nothing counted', () =>
    withItems(t, async (b) => {
      expectIdle();
      await b.dataSource.query(`INSERT INTO ${b.itemsTable} (name) VALUES ('outside')`);
      await b.dataSource.transaction((m) => m.query(`INSERT INTO ${b.itemsTable} (name) VALUES ('outside tx')`));
      expectIdle();
      expect(await b.names()).toEqual(['outside', 'outside tx']);
    }));

  it('results still reach the subscriber in its own async context (its own AsyncLocalStorage)', () =>
    withItems(t, async (b) => {
      const mine = new AsyncLocalStorage<string>();
      const seen: (string | undefined)[] = [];
      await mine.run('subscriber', () =>
        lastValueFrom(b.transact(() => mine.run('work', () => Promise.resolve(1)))).then(() =>
          seen.push(mine.getStore()),
        ),
      );
      const values: (string | undefined)[] = [];
      await new Promise<void>((resolve, reject) =>
        mine.run('subscriber 2', () =>
          b
            .transact(() => mine.run('work', () => Promise.resolve([1, 2])))
            .subscribe({
              next: () => values.push(mine.getStore()),
              error: reject,
              complete: () => (values.push(mine.getStore()), resolve()),
            }),
        ),
      );
      mine.disable();
      expect(seen).toEqual(['subscriber']);
      expect(values).toEqual(['subscriber 2', 'subscriber 2']);
      expectIdle();
    }));
});
