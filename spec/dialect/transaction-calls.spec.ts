import { lastValueFrom } from 'rxjs';
import {
  DataSource,
  EventSubscriber,
  type DataSourceOptions,
  type EntitySubscriberInterface,
  type QueryRunner,
} from 'typeorm';
import { AccessBroker, resolveTarget, type IsolationLevel } from '../../lib';
import { commitTransaction, startTransaction } from '../../lib/dialect/typeorm/transaction-calls';
import { loggedOptions, queryLog } from '../support/brokers';
import { allTargets, type TestTarget } from '../support/targets';

/** What the subscriber below heard, in order. */
const heard: string[] = [];

@EventSubscriber()
class TransactionEars implements EntitySubscriberInterface {
  afterTransactionStart(): void {
    heard.push('started');
  }
  beforeTransactionCommit(): void {
    heard.push('committing');
  }
}

/**
 * sasync begins and commits a whole transaction itself where no subscriber
 * hears of transactions (lib/dialect/typeorm/transaction-calls.ts): the
 * statements it sends and the bookkeeping it leaves must be TypeORM's own.
 */
describe.each(allTargets)('BEGIN and COMMIT without TypeORM’s broadcasts [$name]', (t: TestTarget) => {
  /** A DataSource of its own that records every statement it sends. */
  async function recording(): Promise<{ ds: DataSource; sent: string[] }> {
    const log = queryLog();
    const ds = new DataSource(loggedOptions(t.target() as string, log));
    await ds.initialize();
    return { ds, sent: log.queries };
  }

  const levels: (IsolationLevel | undefined)[] =
    t.dialect === 'postgres'
      ? [undefined, 'SERIALIZABLE', 'READ COMMITTED']
      : [undefined, 'READ UNCOMMITTED', 'SERIALIZABLE'];

  it.each(levels.map((level) => [level ?? 'no level']))(
    'sends what TypeORM sends and leaves its bookkeeping as TypeORM does (%s)',
    async (label) => {
      const level = label === 'no level' ? undefined : (label as IsolationLevel);
      const { ds, sent } = await recording();
      try {
        const bookkeeping = (r: QueryRunner) => ({
          active: r.isTransactionActive,
          depth: (r as unknown as { transactionDepth: number }).transactionDepth,
        });
        const run = async (begin: (r: QueryRunner) => Promise<void>, commit: (r: QueryRunner) => Promise<void>) => {
          sent.length = 0;
          const r = ds.createQueryRunner();
          try {
            await begin(r);
            const open = bookkeeping(r);
            const one = ((await r.query('SELECT 1 AS one')) as { one: number }[])[0]?.one;
            await commit(r);
            return { sent: [...sent], open, closed: bookkeeping(r), one };
          } finally {
            await r.release();
          }
        };
        const typeorm = await run(
          (r) => r.startTransaction(level),
          (r) => r.commitTransaction(),
        );
        const sasync = await run(
          (r) => startTransaction(r, t.dialect, level),
          (r) => commitTransaction(r),
        );
        expect(sasync).toEqual(typeorm);
        expect(typeorm.open).toEqual({ active: true, depth: 1 });
        expect(typeorm.sent.at(-1)).toBe('COMMIT');
      } finally {
        await ds.destroy();
      }
    },
  );

  it('leaves a runner that has a transaction open (a savepoint) to TypeORM', async () => {
    const { ds, sent } = await recording();
    const r = ds.createQueryRunner();
    try {
      await startTransaction(r, t.dialect, undefined);
      sent.length = 0;
      await startTransaction(r, t.dialect, undefined);
      await commitTransaction(r);
      expect(sent).toEqual(['SAVEPOINT typeorm_1', 'RELEASE SAVEPOINT typeorm_1']);
      await commitTransaction(r);
      expect(sent.at(-1)).toBe('COMMIT');
      expect(r.isTransactionActive).toBe(false);
    } finally {
      await r.release();
      await ds.destroy();
    }
  });

  it('hears a subscriber added to the DataSource after its first transactions', async () => {
    const b = new AccessBroker(t.target());
    await b.waitUntilRunning();
    try {
      heard.length = 0;
      await lastValueFrom(b.transact((tx) => tx.query('SELECT 1')));
      expect(heard).toEqual([]);
      b.dataSource.subscribers.push(new TransactionEars());
      await lastValueFrom(b.transact((tx) => tx.query('SELECT 1')));
      expect(heard).toEqual(['started', 'committing']);
    } finally {
      await b.shutdown();
    }
  });

  it('goes through TypeORM when a subscriber hears of transactions: its events still come', async () => {
    heard.length = 0;
    const options = { ...resolveTarget(t.target()).options, subscribers: [TransactionEars] } as DataSourceOptions;
    const b = new AccessBroker(options);
    await b.waitUntilRunning();
    try {
      heard.length = 0;
      await lastValueFrom(b.transact((tx) => tx.query('SELECT 1')));
      expect(heard).toEqual(['started', 'committing']);
    } finally {
      await b.shutdown();
    }
  });
});
