import { lastValueFrom } from 'rxjs';
import {
  QueryFailedError,
  type DataSourceOptions,
  type EntityManager,
  type EntitySubscriberInterface,
  type Logger,
} from 'typeorm';
import { AccessBroker, resolveTarget } from '../../lib';
import { allTargets, ph, uniqueName, type TestTarget } from '../support/targets';

/**
 * tx.query() goes straight to the driver where nothing watches TypeORM's
 * statements (lib/dialect/typeorm/direct-query.ts): what the work gets must
 * be what TypeORM's own query() gives, results and errors alike. The same
 * statements run on a broker whose DataSource logs (TypeORM's path) and on
 * one that does not (the direct path), each on a table of its own.
 */
describe.each(allTargets)('tx.query straight to the driver [$name]', (t: TestTarget) => {
  /** Runs the statements on a fresh table; every result, and every error's fields. */
  async function outcomes(logging: boolean): Promise<{ direct: boolean; results: unknown[] }> {
    const options = { ...resolveTarget(t.target()).options, logging, logger: logging ? 'debug' : undefined };
    const b = new AccessBroker(options as DataSourceOptions);
    await b.waitUntilRunning();
    const table = uniqueName('direct');
    const p = (n: number) => ph(t.dialect, n);
    const key = t.dialect === 'postgres' ? 'serial PRIMARY KEY' : 'INTEGER PRIMARY KEY';
    try {
      await lastValueFrom(b.query(`CREATE TABLE ${table} (id ${key}, v text NOT NULL UNIQUE)`));
      let direct = false;
      const results = await lastValueFrom(
        b.transact(async (tx: EntityManager) => {
          const runner = tx.queryRunner!;
          // TypeORM's query() asks for its connection first, each statement; the direct path does not.
          const spy = jest.spyOn(Object.getPrototypeOf(runner), 'connect');
          const caught = (err: unknown) => {
            const e = err as QueryFailedError & { driverError?: { code?: unknown } };
            return {
              error: e instanceof QueryFailedError,
              query: e.query,
              parameters: e.parameters,
              code: e.driverError?.code,
            };
          };
          try {
            const got: unknown[] = [];
            got.push(await tx.query(`INSERT INTO ${table} (v) VALUES (${p(1)})`, ['a']));
            got.push(await tx.query(`INSERT INTO ${table} (v) VALUES (${p(1)}) RETURNING id`, ['b']));
            got.push(await tx.query(`SELECT id, v FROM ${table} ORDER BY id`));
            got.push(await tx.query(`SELECT v FROM ${table} WHERE v = ${p(1)}`, ['none']));
            got.push(await tx.query(`UPDATE ${table} SET v = v || ${p(1)} WHERE v = ${p(2)}`, ['!', 'a']));
            got.push(await tx.query(`DELETE FROM ${table} WHERE v = ${p(1)}`, ['b']));
            got.push(await tx.query(`SELECT count(*) AS n FROM ${table}`));
            // A failure, in a savepoint so that the transaction goes on.
            got.push(
              await lastValueFrom(
                b.transact((inner) => inner.query(`INSERT INTO ${table} (v) VALUES (${p(1)})`, ['a!']), {
                  savepoint: true,
                }),
              ).catch((err: { cause?: unknown }) => caught(err.cause)),
            );
            direct = spy.mock.calls.length === 0;
            return got;
          } finally {
            spy.mockRestore();
          }
        }),
      );
      return { direct, results };
    } finally {
      await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`));
      await b.shutdown();
    }
  }

  it('gives the work what TypeORM gives: rows, inserted ids, affected counts and QueryFailedError', async () => {
    const typeorm = await outcomes(true);
    const direct = await outcomes(false);
    expect(typeorm.direct).toBe(false);
    expect(direct.direct).toBe(true);
    // The table names differ: compared with each one's name taken out.
    const plain = (r: unknown[]) => JSON.parse(JSON.stringify(r).replace(/direct_\d+_[a-z0-9]+/g, 'T')) as unknown;
    expect(plain(direct.results)).toEqual(plain(typeorm.results));
    expect(direct.results.at(-1)).toMatchObject({ error: true, parameters: ['a!'] });
  });

  it('goes through TypeORM again once a subscriber that watches statements is added, or the logger replaced', async () => {
    const b = new AccessBroker(t.target());
    await b.waitUntilRunning();
    try {
      /** Whether a statement of a transaction went through TypeORM's query() (which asks for its connection). */
      const throughTypeorm = () =>
        lastValueFrom(
          b.transact(async (tx) => {
            const spy = jest.spyOn(Object.getPrototypeOf(tx.queryRunner!), 'connect');
            try {
              await tx.query('SELECT 1');
              return spy.mock.calls.length > 0;
            } finally {
              spy.mockRestore();
            }
          }),
        );
      expect(await throughTypeorm()).toBe(false);
      const watcher: EntitySubscriberInterface = { afterQuery: () => undefined };
      b.dataSource.subscribers.push(watcher);
      expect(await throughTypeorm()).toBe(true);
      b.dataSource.subscribers.pop();
      expect(await throughTypeorm()).toBe(false);
      const logger = b.dataSource.logger;
      b.dataSource.logger = Object.assign(Object.create(logger) as Logger, { logQuery: () => undefined });
      expect(await throughTypeorm()).toBe(true);
      b.dataSource.logger = logger;
      // A logger once replaced keeps every statement on TypeORM's path.
      expect(await throughTypeorm()).toBe(true);
    } finally {
      await b.shutdown();
    }
  });
});
