import { lastValueFrom, toArray } from 'rxjs';
import pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import { AccessBroker, ConnectionLostError, TransactionError, type DatabaseTarget } from '../../lib';
import { appDataSource } from '../support/data-sources';
import { latch } from '../support/brokers';
import { within } from '../support/streams';
import { PG_URL, pgAvailable, postgres, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/**
 * The calls for which pg 8 prints its DeprecationWarning "Calling
 * client.query() when the client is already executing a query is
 * deprecated": a query() made while pg's own queue already holds one and
 * the client is not in pipeline mode (pg/lib/client.js checks exactly
 * `_queryQueue.length > 0 && !pipeline`). The warning itself is printed
 * once per process, and `process.on('warning')` in a Jest spec listens on
 * Jest's copy of `process`, which never hears it: so every call is checked
 * here, on the prototype the broker's clients call last.
 */
const queuedBehindQueued: string[] = [];
const query = pg.Client.prototype.query;
beforeAll(() => {
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const internals = this as unknown as { _queryQueue: unknown[]; pipeline?: boolean };
    if (internals._queryQueue.length > 0 && !internals.pipeline) {
      const sql = args[0] as string | { text?: string };
      queuedBehindQueued.push(typeof sql === 'string' ? sql : String(sql.text));
    }
    return (query as (...a: unknown[]) => unknown).apply(this, args);
  } as typeof query;
});
afterAll(() => {
  pg.Client.prototype.query = query;
});
beforeEach(() => void (queuedBehindQueued.length = 0));

/** Runs `fn` with a broker on `target` and a table `t(id, name)` of 20 rows, dropped afterwards. */
async function withRows(target: DatabaseTarget, fn: (b: AccessBroker, table: string) => Promise<void>): Promise<void> {
  const b = new AccessBroker(target);
  const table = uniqueName('queue');
  try {
    await b.table(table, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'name', type: 'string', length: 40 },
    ]);
    await lastValueFrom(
      b.produceRows(
        (i: number) => `n${i}`,
        Array.from({ length: 20 }, (_, i) => i),
        table,
        'name',
      ),
    );
    await fn(b, table);
  } finally {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`));
    await b.shutdown();
  }
}

async function names(b: AccessBroker, table: string): Promise<string[]> {
  const rows = await lastValueFrom(b.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY id`));
  return rows.map((r) => r.name);
}

/** A RowStream read inside the transaction, a statement sent for each row without awaiting it (rows of a batch arrive together). */
async function copyEachRow(b: AccessBroker, table: string): Promise<void> {
  await lastValueFrom(
    b.transact(async (tx: EntityManager) => {
      const sent: Promise<unknown>[] = [];
      const rows = b.stream<{ name: string }>(`SELECT name FROM ${table} ORDER BY id`, [], { batchSize: 4 });
      await new Promise<void>((resolve, reject) =>
        rows.subscribe({
          next: (row) => void sent.push(tx.query(`INSERT INTO ${table} (name) VALUES ($1)`, [`copy ${row.name}`])),
          error: reject,
          complete: resolve,
        }),
      );
      await Promise.all(sent);
    }),
  );
}

/** Statements a transaction sends together (a store's write batch does this), then one that needs them. */
async function sendTogether(b: AccessBroker, table: string): Promise<number> {
  return lastValueFrom(
    b.transact(async (tx: EntityManager) => {
      await Promise.all(
        Array.from({ length: 6 }, (_, i) => tx.query(`INSERT INTO ${table} (name) VALUES ($1)`, [`together ${i}`])),
      );
      const [row] = (await tx.query(`SELECT COUNT(*)::int AS n FROM ${table}`)) as { n: number }[];
      return row!.n;
    }),
  );
}

describePg('statements a transaction sends together leave nothing in pg’s deprecated queue [postgres]', () => {
  describe('on a DataSource sasync made', () => {
    it('a RowStream read in a transaction, a statement sent for each row', () =>
      withRows(postgres.target(), async (b, table) => {
        await copyEachRow(b, table);
        expect((await names(b, table)).filter((n) => n.startsWith('copy '))).toHaveLength(20);
        expect(queuedBehindQueued).toEqual([]);
      }));

    it('statements sent while a TypeORM stream holds the transaction’s connection wait for it, in order', () =>
      withRows(postgres.target(), async (b, table) => {
        const order: string[] = [];
        const seen = await lastValueFrom(
          b.transact(async (tx: EntityManager) => {
            const stream = await tx.createQueryBuilder().select('name').from(table, 't').orderBy('id').stream();
            const streamed = latch<number>();
            let rows = 0;
            stream.on('data', () => void rows++);
            stream.on('end', () => (order.push('stream'), streamed.resolve(rows)));
            // Sent while the stream's portal holds the client: they go out after it, in order.
            const after = Array.from({ length: 4 }, (_, i) =>
              tx
                .query(`INSERT INTO ${table} (name) VALUES ($1) RETURNING id`, [`after ${i}`])
                .then(() => void order.push(`insert ${i}`)),
            );
            const n = await within(streamed.promise, 'the stream to end');
            await Promise.all(after);
            return n;
          }),
        );
        expect(seen).toBe(20);
        expect(order).toEqual(['stream', 'insert 0', 'insert 1', 'insert 2', 'insert 3']);
        expect((await names(b, table)).slice(-4)).toEqual(['after 0', 'after 1', 'after 2', 'after 3']);
        expect(queuedBehindQueued).toEqual([]);
      }));
    it('a statement waiting behind a TypeORM stream fails, not hangs, when the connection dies', () =>
      withRows(postgres.target(), async (b, table) => {
        const killer = new pg.Client({ connectionString: PG_URL });
        await killer.connect();
        let held: unknown;
        try {
          const failure = await lastValueFrom(
            b.transact(async (tx: EntityManager) => {
              const [row] = (await tx.query('SELECT pg_backend_pid() AS pid')) as { pid: number }[];
              const stream = await tx.createQueryBuilder().select('name').from(table, 't').stream();
              stream.on('error', () => undefined);
              // The stream is not read: its portal holds the connection, and this waits behind it.
              const waiting = tx.query('SELECT 1').then(
                () => 'answered',
                (e: unknown) => e,
              );
              // This test's own backend, ended from outside.
              await killer.query('SELECT pg_terminate_backend($1)', [row!.pid]);
              // Caught, and the work goes on to COMMIT, which must fail rather than wait for an answer.
              held = await within(waiting, 'the waiting statement to settle').catch((e: unknown) => `held: ${e}`);
            }),
          ).catch((e: unknown) => e);
          // pg failed it with the connection (held forever, it would be "held: … did not finish").
          expect(held).toBeInstanceOf(Error);
          expect(String(held)).toMatch(/terminat|connection/i);
          expect(failure).toBeInstanceOf(TransactionError);
          expect((failure as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
          expect((failure as TransactionError).code).toBe('57P01');
          // The broker keeps serving.
          expect(await names(b, table)).toHaveLength(20);
        } finally {
          await killer.end();
        }
      }));
  });

  describe('on an app’s own DataSource (not pipelined)', () => {
    let ds: DataSource;
    beforeEach(() => {
      ds = appDataSource(postgres);
    });
    afterEach(async () => {
      if (ds.isInitialized) await ds.destroy();
    });

    it('a RowStream read in a transaction, a statement sent for each row', () =>
      withRows(ds, async (b, table) => {
        await copyEachRow(b, table);
        expect((await names(b, table)).filter((n) => n.startsWith('copy '))).toHaveLength(20);
        expect(queuedBehindQueued).toEqual([]);
      }));

    it('statements sent together, and produceRows’ inserts, go one at a time, in order', () =>
      withRows(ds, async (b, table) => {
        expect(await sendTogether(b, table)).toBe(26);
        const keys = await lastValueFrom(
          b
            .produceRows(
              (i: number) => `p${i}`,
              Array.from({ length: 50 }, (_, i) => i),
              table,
              'name',
            )
            .pipe(toArray()),
        );
        expect(keys).toHaveLength(50);
        expect((await names(b, table)).slice(-50)).toEqual(Array.from({ length: 50 }, (_, i) => `p${i}`));
        expect(queuedBehindQueued).toEqual([]);
      }));

    it('gives the app its clients back as they were when the broker shuts down', async () => {
      await withRows(ds, async (b, table) => void (await sendTogether(b, table)));
      const clients = (ds.driver as unknown as { master: { _clients: object[] } }).master._clients;
      expect(clients.length).toBeGreaterThan(0);
      expect(clients.filter((c) => Object.hasOwn(c, 'query'))).toEqual([]);
      // The app's own calls reach pg's queue again as before (nothing of sasync's holds them).
      const client = await (ds.driver as unknown as { master: pg.Pool }).master.connect();
      try {
        const both = [client.query('SELECT 1'), client.query('SELECT 2')];
        expect((client as unknown as { _queryQueue: unknown[] })._queryQueue).toHaveLength(1);
        await Promise.all(both);
      } finally {
        client.release();
      }
    });
  });
});
