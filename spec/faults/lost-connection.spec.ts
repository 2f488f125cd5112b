import { once, type EventEmitter } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { ConnectionLostError, TransactionError } from '../../lib';
import { expectPoolWhole } from '../support/brokers';
import { useClusterBroker } from '../support/cluster-broker';
import { pgClusterAvailable } from '../support/pg-cluster';
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
  const fixture = useClusterBroker();

  /** The pid of the backend the transaction runs on. */
  async function backendPid(tx: { query(sql: string): Promise<{ pid: number }[]> }): Promise<number> {
    const [row] = await tx.query('SELECT pg_backend_pid() AS pid');
    return row!.pid;
  }

  async function servesAgain(name: string): Promise<void> {
    await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), [name]));
    expect(await fixture.broker.names()).toContain(name);
    await until(
      () => fixture.broker.connectionStats().idle === fixture.broker.connectionStats().open,
      'the pool is whole',
    );
    expectPoolWhole(fixture.broker);
  }

  it('a backend terminated mid-transaction: 57P01, and the next transaction succeeds [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        fixture.broker.transact(async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['mid']);
          await fixture.cluster.terminate(await backendPid(tx));
          await tx.query('SELECT 1');
        }),
      ),
    );
    const lost = expectLost(error, /^57P01$/);
    expect(lost.duringCommit).toBe(false);
    expect((error as Error).message).toMatch(/rolled back by the server/);
    expect(await fixture.broker.names()).not.toContain('mid');
    await servesAgain('after-mid');
  });

  it('a backend terminated while the work awaits something else, before COMMIT: 57P01, nothing committed [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        fixture.broker.transact(async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['before-commit']);
          // The connection hears of it before the work returns and COMMIT would go out.
          const client = (tx.queryRunner as unknown as { databaseConnection: EventEmitter }).databaseConnection;
          const ended = once(client, 'end');
          await fixture.cluster.terminate(await backendPid(tx));
          await ended;
        }),
      ),
    );
    const lost = expectLost(error, /^57P01$/);
    expect(lost.duringCommit).toBe(false);
    expect(await fixture.broker.names()).not.toContain('before-commit');
    await servesAgain('after-before-commit');
  });

  it('retry re-runs a transaction whose connection was lost before COMMIT [postgres]', async () => {
    let attempts = 0;
    await lastValueFrom(
      fixture.broker.transact(
        async (tx) => {
          attempts++;
          await tx.query(fixture.broker.insertSql(), [`retried-${attempts}`]);
          if (attempts === 1) {
            await fixture.cluster.terminate(await backendPid(tx));
            await tx.query('SELECT 1');
          }
        },
        { retry: 2 },
      ),
    );
    expect(attempts).toBe(2);
    const names = await fixture.broker.names();
    expect(names).toContain('retried-2');
    expect(names).not.toContain('retried-1');
  });

  it('a backend terminated mid-stream: the stream fails with the code and a lost connection [postgres]', async () => {
    await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), ['s1']));
    await lastValueFrom(fixture.broker.query(fixture.broker.insertSql(), ['s2']));
    const iterator = fixture.broker
      .stream<{ pid: number }>(`SELECT pg_backend_pid() AS pid, name FROM ${fixture.broker.itemsTable}`, [], {
        batchSize: 1,
      })
      [Symbol.asyncIterator]();
    const first = await iterator.next();
    await fixture.cluster.terminate(first.value!.pid);
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

  it('the server restarts under an open transaction: a lost connection, then the fixture.broker serves again [postgres]', async () => {
    const error = await rejection(
      lastValueFrom(
        fixture.broker.transact(async (tx) => {
          await tx.query(fixture.broker.insertSql(), ['restart']);
          await fixture.cluster.restart({ mode: 'fast' });
          await tx.query('SELECT 1');
        }),
      ),
    );
    expectLost(error, /^(57P01|57P02|57P03|ECONNRESET)$/);
    await servesAgain('after-restart');
  });
});
