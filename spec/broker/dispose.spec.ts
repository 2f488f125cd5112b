import { lastValueFrom } from 'rxjs';
import type { DataSource } from 'typeorm';
import { AccessBroker, BrokerClosedError } from '../../lib';
import { allTargets } from '../support/targets';

describe.each(allTargets)('await using a broker [$name]', (t) => {
  it('runs work in the block and shuts the broker down at its end, closing the DataSource it alone used', async () => {
    let broker: AccessBroker;
    let ds: DataSource;
    {
      await using b = new AccessBroker(t.target());
      broker = b;
      await expect(lastValueFrom(b.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
      ds = b.dataSource;
      expect(ds.isInitialized).toBe(true);
    }
    expect(broker.running).toBe(false);
    expect(ds.isInitialized).toBe(false);
    await expect(lastValueFrom(broker.query('SELECT 1'))).rejects.toBeInstanceOf(BrokerClosedError);
  });

  it('is shutdown() itself: the same Promise, so disposing twice or shutting down after is harmless', async () => {
    const b = new AccessBroker(t.target());
    const disposed = b[Symbol.asyncDispose]();
    expect(b.shutdown()).toBe(disposed);
    await disposed;
    await expect(b[Symbol.asyncDispose]()).resolves.toBeUndefined();
  });

  it('waits for work submitted in the block and not awaited there', async () => {
    let finished = false;
    let pending: Promise<string>;
    {
      await using b = new AccessBroker(t.target());
      pending = lastValueFrom(
        b.transact(async (tx) => {
          await tx.query('SELECT 1');
          finished = true;
          return 'done';
        }),
      );
    }
    expect(finished).toBe(true);
    await expect(pending).resolves.toBe('done');
  });

  it('shuts the broker down when the block throws; the caller gets the block’s error', async () => {
    let broker: AccessBroker | undefined;
    const block = async () => {
      await using b = new AccessBroker(t.target());
      broker = b;
      await b.waitUntilRunning();
      throw new Error('the block failed');
    };
    await expect(block()).rejects.toThrow('the block failed');
    expect(broker!.running).toBe(false);
    await expect(lastValueFrom(broker!.query('SELECT 1'))).rejects.toBeInstanceOf(BrokerClosedError);
  });

  it('leaves the shared DataSource open for another broker on the same target', async () => {
    const target = t.target();
    const other = new AccessBroker(target);
    try {
      {
        await using b = new AccessBroker(target);
        await b.waitUntilRunning();
      }
      expect(other.dataSource.isInitialized).toBe(true);
      await expect(lastValueFrom(other.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
    } finally {
      await other.shutdown();
    }
    expect(other.dataSource.isInitialized).toBe(false);
  });
});
