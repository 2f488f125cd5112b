import { lastValueFrom } from 'rxjs';
import type { DataSourceOptions, Logger } from 'typeorm';
import { AccessBroker, resolveTarget, type DatabaseTarget } from '../../lib';
import { ph, uniqueName, type TestTarget } from './targets';

/** Every SQL statement a DataSource ran, recorded by a real TypeORM logger. */
export interface QueryLog {
  readonly queries: string[];
  readonly logger: Logger;
  count(pattern: RegExp): number;
}

export function queryLog(): QueryLog {
  const queries: string[] = [];
  const logger: Logger = {
    logQuery: (q) => void queries.push(q),
    logQueryError: () => undefined,
    logQuerySlow: () => undefined,
    logSchemaBuild: () => undefined,
    logMigration: () => undefined,
    log: () => undefined,
  };
  return { queries, logger, count: (pattern) => queries.filter((q) => pattern.test(q)).length };
}

/** DataSourceOptions for a test target, with a query log attached. */
export function loggedOptions(target: string, log: QueryLog): DataSourceOptions {
  return { ...resolveTarget(target).options, logging: true, logger: log.logger } as DataSourceOptions;
}

/** A broker with one `items(id, name)` table of its own, for tests that need rows. */
export class ItemsBroker extends AccessBroker {
  readonly itemsTable = uniqueName('items');

  protected override async startup(): Promise<void> {
    await this.table(this.itemsTable, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'name', type: 'string', length: 40 },
    ]);
  }

  /** INSERT of one name, with the dialect's placeholder. */
  insertSql(): string {
    return `INSERT INTO ${this.itemsTable} (name) VALUES (${ph(this.dialect, 1)})`;
  }

  async names(): Promise<string[]> {
    const rows = await lastValueFrom(this.query<{ name: string }>(`SELECT name FROM ${this.itemsTable} ORDER BY id`));
    return rows.map((r) => r.name);
  }

  async dropItems(): Promise<void> {
    await lastValueFrom(this.query(`DROP TABLE IF EXISTS ${this.itemsTable}`));
  }
}

/**
 * Runs `fn` with a fresh ItemsBroker, then drops its table and shuts it down.
 * `target` overrides the test target's (e.g. options naming the connections).
 */
export async function withItems<T>(
  t: TestTarget,
  fn: (b: ItemsBroker) => Promise<T>,
  target: DatabaseTarget = t.target(),
): Promise<T> {
  const broker = new ItemsBroker(target);
  await broker.waitUntilRunning();
  try {
    return await fn(broker);
  } finally {
    await broker.drain();
    if (broker.running) {
      await broker.dropItems();
    } else if (t.dialect === 'postgres') {
      const cleaner = new AccessBroker(t.target());
      await lastValueFrom(cleaner.query(`DROP TABLE IF EXISTS ${broker.itemsTable}`));
      await cleaner.shutdown();
    }
    await broker.shutdown();
  }
}

/** A promise with its resolve function, for making work wait on the test. */
export function latch<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Every connection is back in the pool and nobody waits for one. */
export function expectPoolWhole(broker: AccessBroker): void {
  const stats = broker.connectionStats();
  expect(stats.waiting).toBe(0);
  expect(stats.idle).toBe(stats.open);
}

/**
 * A transaction cancelled (unsubscribed, then drained) while its work waits;
 * `resume()` lets the work go on and call a nested transaction method, whose
 * outcome (a value or the error it got) `nested` resolves with.
 */
export async function cancelledWhileWorking(b: ItemsBroker): Promise<{ resume: () => void; nested: Promise<unknown> }> {
  const insertOne = b.transaction((tx, name: string) => tx.query(b.insertSql(), [name]));
  const waiting = latch();
  const resume = latch();
  const nested = latch<unknown>();
  const sub = b
    .transact(async () => {
      waiting.resolve();
      await resume.promise;
      await lastValueFrom(insertOne('after cancel')).then(nested.resolve, nested.resolve);
    })
    .subscribe({ error: () => undefined });
  await waiting.promise;
  sub.unsubscribe();
  await b.drain();
  return { resume: () => resume.resolve(), nested: nested.promise };
}
