import { lastValueFrom, type Observable } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, DatabaseError, transact, TransactionError } from '../../lib';
import { expectPoolWhole, ItemsBroker } from '../support/brokers';
import { within } from '../support/streams';
import { allTargets } from '../support/targets';

function boom(): never {
  throw new Error('thrown synchronously');
}

class ThrowingBroker extends ItemsBroker {
  @transact()
  decorated(): Observable<unknown> {
    return boom();
  }

  readonly method = this.transaction((_tx: EntityManager, _n: number): number => boom());
}

class ThrowingStartup extends AccessBroker {
  protected override startup(): void {
    boom();
  }
}

class ThrowingFirst extends AccessBroker {
  protected override first(): void {
    boom();
  }
}

describe.each(allTargets)('user code that throws synchronously leaves the broker working [$name]', (t) => {
  let b: ThrowingBroker;
  beforeEach(async () => {
    b = new ThrowingBroker(t.target());
    await b.waitUntilRunning();
  });
  afterEach(async () => {
    // The broker still serves, nothing was written, the pool is whole, and shutdown resolves.
    await lastValueFrom(b.query(b.insertSql(), ['after']));
    expect(await b.names()).toEqual(['after']);
    await within(b.drain(), 'drain()', 5000);
    expectPoolWhole(b);
    await b.dropItems();
    await within(b.shutdown(), 'shutdown()', 5000);
  });

  it('run(): the error reaches the subscriber', async () => {
    await expect(lastValueFrom(b.run(boom))).rejects.toThrow('thrown synchronously');
  });

  it('run() inside a transaction', async () => {
    const work = b.transact(async (tx) => {
      await tx.query(b.insertSql(), ['rolled back']);
      return lastValueFrom(b.run(boom));
    });
    await expect(lastValueFrom(work)).rejects.toThrow('thrown synchronously');
  });

  it('transact() work', async () => {
    await expect(lastValueFrom(b.transact(boom))).rejects.toThrow(TransactionError);
  });

  it('transaction() method work', async () => {
    await expect(lastValueFrom(b.method(1))).rejects.toThrow(TransactionError);
  });

  it('@transact method body', async () => {
    await expect(lastValueFrom(b.decorated())).rejects.toThrow(TransactionError);
  });

  it.each([
    ['joined', {}],
    ['savepoint', { savepoint: true }],
  ])('nested %s work: a TransactionError the outer transaction sees', async (_kind, options) => {
    let inner: unknown;
    await lastValueFrom(
      b.transact(async () => {
        inner = await lastValueFrom(b.transact(boom, options)).catch((err: unknown) => err);
      }),
    );
    expect(inner).toBeInstanceOf(TransactionError);
    expect((inner as TransactionError).cause).toEqual(new Error('thrown synchronously'));
  });

  it("produceRows' f", async () => {
    const produced = b.produceRows(() => boom(), ['a', 'b'], b.itemsTable, 'name');
    await expect(lastValueFrom(produced)).rejects.toThrow(TransactionError);
  });

  it('a consume() handler: the cursor is closed', async () => {
    await lastValueFrom(b.query(b.insertSql(), ['streamed']));
    const consumed = b.stream(`SELECT name FROM ${b.itemsTable}`).consume(() => boom());
    await expect(consumed).rejects.toThrow('thrown synchronously');
    await lastValueFrom(b.query(`DELETE FROM ${b.itemsTable}`));
  });
});

describe.each(allTargets)('start-up code that throws synchronously [$name]', (t) => {
  it.each([
    ['startup()', ThrowingStartup, DatabaseError],
    ['first()', ThrowingFirst, TransactionError],
  ])('%s: start-up fails with a typed error, calls fail, shutdown resolves', async (_what, Broker, Expected) => {
    const b = new Broker(t.target());
    await expect(b.waitUntilRunning()).rejects.toThrow(Expected);
    await expect(lastValueFrom(b.query('SELECT 1 AS one'))).rejects.toThrow(Expected);
    await within(b.shutdown(), 'shutdown()', 5000);
  });
});
