import { lastValueFrom } from 'rxjs';
import { ConnectionLostError, TransactionError } from '../../lib';
import { expectPoolWhole, ItemsBroker } from '../support/brokers';
import { createCluster, pgClusterAvailable, type PgCluster } from '../support/pg-cluster';
import { until } from '../support/streams';

/** The error `promise` rejected with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, got a value');
}

/** A TransactionError caused by a ConnectionLostError with `code`, whose message names the lost connection. */
function expectLost(error: unknown, code: RegExp): ConnectionLostError {
  expect(error).toBeInstanceOf(TransactionError);
  expect((error as TransactionError).code).toMatch(code);
  const cause = (error as TransactionError).cause;
  expect(cause).toBeInstanceOf(ConnectionLostError);
  expect((cause as ConnectionLostError).code).toMatch(code);
  expect((error as Error).message).toMatch(/connection to .* was lost/);
  expect((error as Error).message).not.toMatch(/already released/);
  return cause as ConnectionLostError;
}

/**
 * A backend terminated (pg_terminate_backend on the private cluster) or a
 * server restarted under a transaction or stream: the error says the
 * connection was lost, with the driver's code, and the next transaction
 * succeeds on a fresh connection.
 */
(pgClusterAvailable ? describe : describe.skip)('a lost connection is reported as one [postgres]', () => {
  let cluster: PgCluster;
  let broker: ItemsBroker;
  beforeAll(async () => {
    cluster = await createCluster();
    broker = new ItemsBroker(cluster.url);
    await broker.waitUntilRunning();
  });
  afterAll(async () => {
    await broker?.shutdown();
    await cluster?.remove();
  });

  /** The pid of the backend the transaction runs on. */
  async function backendPid(tx: { query(sql: string): Promise<{ pid: number }[]> }): Promise<number> {
    const [row] = await tx.query('SELECT pg_backend_pid() AS pid');
    return row!.pid;
  }

  async function servesAgain(name: string): Promise<void> {
    await lastValueFrom(broker.query(broker.insertSql(), [name]));
    expect(await broker.names()).toContain(name);
    await until(() => broker.connectionStats().idle === broker.connectionStats().open, 'the pool is whole');
    expectPoolWhole(broker);
  }

  it('a backend terminated mid-transaction: 57P01, and the next transaction succeeds [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query(broker.insertSql(), ['mid']);
          await cluster.terminate(await backendPid(tx));
          await tx.query('SELECT 1');
        }),
      ),
    );
    const lost = expectLost(error, /^57P01$/);
    expect(lost.duringCommit).toBe(false);
    expect((error as Error).message).toMatch(/rolled back by the server/);
    expect(await broker.names()).not.toContain('mid');
    await servesAgain('after-mid');
  });

  it('a backend terminated while the work awaits something else, before COMMIT: 57P01, nothing committed [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query(broker.insertSql(), ['before-commit']);
          await cluster.terminate(await backendPid(tx));
          // Let the connection hear of it before the work returns and COMMIT would go out.
          await new Promise((r) => setTimeout(r, 300));
        }),
      ),
    );
    const lost = expectLost(error, /^57P01$/);
    expect(lost.duringCommit).toBe(false);
    expect(await broker.names()).not.toContain('before-commit');
    await servesAgain('after-before-commit');
  });

  it('retry re-runs a transaction whose connection was lost before COMMIT [postgres]', async () => {
    let attempts = 0;
    await lastValueFrom(
      broker.transact(
        async (tx) => {
          attempts++;
          await tx.query(broker.insertSql(), [`retried-${attempts}`]);
          if (attempts === 1) {
            await cluster.terminate(await backendPid(tx));
            await tx.query('SELECT 1');
          }
        },
        { retry: 2 },
      ),
    );
    expect(attempts).toBe(2);
    const names = await broker.names();
    expect(names).toContain('retried-2');
    expect(names).not.toContain('retried-1');
  });

  it('a backend terminated mid-stream: the stream fails with the code and a lost connection [postgres]', async () => {
    await lastValueFrom(broker.query(broker.insertSql(), ['s1']));
    await lastValueFrom(broker.query(broker.insertSql(), ['s2']));
    const iterator = broker
      .stream<{ pid: number }>(`SELECT pg_backend_pid() AS pid, name FROM ${broker.itemsTable}`, [], { batchSize: 1 })
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    await cluster.terminate(first.value!.pid);
    const error = await rejection(
      (async () => {
        for (;;) if ((await iterator.next()).done) return;
      })(),
    );
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).code).toMatch(/^(57P01|ECONNRESET)$/);
    expect((error as TransactionError).cause).toBeInstanceOf(ConnectionLostError);
    expect((error as Error).message).toMatch(/connection to .* was lost/);
    await servesAgain('after-stream');
  });

  it('the server restarts under an open transaction: a lost connection, then the broker serves again [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        broker.transact(async (tx) => {
          await tx.query(broker.insertSql(), ['restart']);
          await cluster.restart({ mode: 'fast' });
          await tx.query('SELECT 1');
        }),
      ),
    );
    expectLost(error, /^(57P01|57P02|57P03|ECONNRESET)$/);
    await servesAgain('after-restart');
  });
});
