import pg from 'pg';
import { lastValueFrom, toArray } from 'rxjs';
import sqlite3 from 'sqlite3';
import type { Logger } from 'typeorm';
import { AccessBroker, resolveTarget, type ValueSource } from '../../lib';
import { latch, withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, PG_URL, pgAvailable, postgres, sqliteFile, sqliteMemory, uniqueName } from '../support/targets';

const NAMES = ['a', 'b', 'c', 'd', 'e'];

/** Sources of NAMES: three that a second reading would not give again, and an array, which it would. */
const sources: [string, () => ValueSource<string>][] = [
  [
    'a generator',
    () =>
      (function* () {
        yield* NAMES;
      })(),
  ],
  [
    'an async generator',
    () =>
      (async function* () {
        for (const name of NAMES) yield await Promise.resolve(name);
      })(),
  ],
  [
    'an iterable whose second reading differs',
    () => {
      let readings = 0;
      return {
        [Symbol.iterator]: () => {
          const reading = ++readings;
          return NAMES.map((n) => (reading === 1 ? n : `${n}${reading}`))[Symbol.iterator]();
        },
      };
    },
  ],
  ['an array', () => [...NAMES]],
];

/** Calls of f, per value: a retry calls f again for every value. */
function counted(before?: (name: string, call: number) => Promise<void>) {
  const calls = new Map<string, number>();
  const f = async (name: string) => {
    const call = (calls.get(name) ?? 0) + 1;
    calls.set(name, call);
    await before?.(name, call);
    return name;
  };
  return { f, calls };
}

describe.each(allTargets)('produceRows() reads a one-shot source once for every subscription [$name]', (t) => {
  it.each(sources)('commits every value of %s on each of two subscriptions', (_, source) =>
    withItems(t, async (b) => {
      const rows = b.produceRows((v: string) => v, source(), b.itemsTable, 'name');
      expect(await lastValueFrom(rows.pipe(toArray()))).toHaveLength(5);
      expect(await lastValueFrom(rows.pipe(toArray()))).toHaveLength(5);
      expect(await b.names()).toEqual([...NAMES, ...NAMES]);
    }),
  );

  it('fails with the source error on every subscription, committing nothing', () =>
    withItems(t, async (b) => {
      function* failing() {
        yield 'a';
        throw new Error('the source failed');
      }
      const rows = b.produceRows((v: string) => v, failing(), b.itemsTable, 'name', {}, { retry: 2 });
      await expect(lastValueFrom(rows)).rejects.toThrow(/the source failed/);
      await expect(lastValueFrom(rows)).rejects.toThrow(/the source failed/);
      expect(await b.names()).toEqual([]);
    }));

  it('refuses a source that is not iterable at once', () =>
    withItems(t, async (b) => {
      expect(() => b.produceRows((v: string) => v, 42 as never, b.itemsTable, 'name')).toThrow(TypeError);
    }));
});

const describePg = pgAvailable ? describe : describe.skip;

describePg('produceRows() retried after a serialization failure [postgres]', () => {
  let counter: string;
  let admin: AccessBroker;
  beforeAll(async () => {
    admin = new AccessBroker(postgres.target());
    counter = uniqueName('counter');
    await admin.table(counter, [{ name: 'n', type: 'integer' }]);
    await lastValueFrom(admin.query(`INSERT INTO ${counter} (n) VALUES (0)`));
  });
  afterAll(async () => {
    await lastValueFrom(admin.query(`DROP TABLE ${counter}`));
    await admin.shutdown();
  });

  /** An UPDATE of the counter committed on a connection of its own, outside sasync. */
  async function concurrentUpdate(): Promise<void> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await client.query(`UPDATE ${counter} SET n = n + 1`);
    } finally {
      await client.end();
    }
  }

  it.each(sources)('commits every value of %s, read once, on the retry', (_, source) =>
    withItems(postgres, async (b: ItemsBroker) => {
      // f('a') bumps the counter inside the transaction. On the first call it
      // first reads it (the snapshot), then another session updates it: the
      // REPEATABLE READ update fails with 40001 and the transaction is retried.
      const { f, calls } = counted(async (name, call) => {
        if (name !== 'a') return;
        if (call === 1) {
          await lastValueFrom(b.query(`SELECT n FROM ${counter}`));
          await concurrentUpdate();
        }
        await lastValueFrom(b.query(`UPDATE ${counter} SET n = n + 1`));
      });
      const before = Number((await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${counter}`)))[0]!.n);
      const keys = await lastValueFrom(
        b
          .produceRows(f, source(), b.itemsTable, 'name', {}, { retry: 3, isolation: 'REPEATABLE READ' })
          .pipe(toArray()),
      );
      expect(calls.get('a')).toBe(2);
      expect(keys).toHaveLength(5);
      expect(await b.names()).toEqual(NAMES);
      // The other session's update and the retry's: the failed attempt's rolled back.
      const after = Number((await lastValueFrom(b.query<{ n: number }>(`SELECT n FROM ${counter}`)))[0]!.n);
      expect(after - before).toBe(2);
    }),
  );
});

describe('produceRows() retried after SQLITE_BUSY from another connection [sqlite-file]', () => {
  it.each(sources)('commits every value of %s, read once, on the retry', async (_, source) => {
    const target = sqliteFile.target();
    const options = resolveTarget(target).options;
    const failed = latch();
    const logger: Logger = {
      logQuery: () => undefined,
      logQueryError: () => failed.resolve(),
      logQuerySlow: () => undefined,
      logSchemaBuild: () => undefined,
      logMigration: () => undefined,
      log: () => undefined,
    };
    // busyTimeout 1: the insert fails with SQLITE_BUSY at once while the other connection writes.
    const brokerOptions = { ...options, busyTimeout: 1, logging: true, logger } as never;
    await withItems(
      sqliteFile,
      async (b) => {
        const other = new sqlite3.Database(options.database as string);
        const run = (sql: string) => new Promise<void>((res, rej) => other.run(sql, (e) => (e ? rej(e) : res())));
        try {
          await run('BEGIN IMMEDIATE');
          const { f, calls } = counted();
          const done = lastValueFrom(
            b.produceRows(f, source(), b.itemsTable, 'name', {}, { retry: 20 }).pipe(toArray()),
          );
          // The first attempt's insert failed on the lock: let go, so that a retry can write.
          await failed.promise;
          await run('ROLLBACK');
          expect(await done).toHaveLength(5);
          expect(calls.get('a')).toBeGreaterThan(1);
          expect(await b.names()).toEqual(NAMES);
        } finally {
          await new Promise<void>((res) => other.close(() => res()));
        }
      },
      brokerOptions,
    );
  });
});

describe('produceRows() retried after a retryable error from f [sqlite-memory]', () => {
  // One connection: no other can hold a lock. f throws the error a lock would give.
  it.each(sources)('commits every value of %s, read once, on the retry', (_, source) =>
    withItems(sqliteMemory, async (b) => {
      const { f, calls } = counted(async (name, call) => {
        if (name === 'c' && call === 1) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      });
      const keys = await lastValueFrom(
        b.produceRows(f, source(), b.itemsTable, 'name', {}, { retry: 1 }).pipe(toArray()),
      );
      expect(keys).toHaveLength(5);
      expect(calls.get('c')).toBe(2);
      expect(await b.names()).toEqual(NAMES);
    }),
  );
});
