import { AccessBroker, ReadOnlyError } from '../../lib';
import { allTargets, uniqueName, type TestTarget } from '../support/targets';

function readOnlyCode(t: TestTarget): string {
  return t.dialect === 'postgres' ? '25006' : 'SQLITE_READONLY';
}

describe.each(allTargets)('transact(work, { readOnly: true }) [$name]', (t) => {
  let broker: AccessBroker;
  const table = uniqueName('ro');
  beforeAll(async () => {
    broker = new AccessBroker(t.target());
    await broker.query(`CREATE TABLE ${table} (id integer PRIMARY KEY, name text NOT NULL)`);
    await broker.query(`INSERT INTO ${table} (id, name) VALUES (1, 'one')`);
  });
  afterAll(async () => {
    await broker.query(`DROP TABLE ${table}`).catch(() => undefined);
    await broker.shutdown();
  });

  it('reads', async () => {
    const rows = await broker.transact((tx) => tx.query(`SELECT name FROM ${table}`), { readOnly: true });
    expect(rows).toEqual([{ name: 'one' }]);
  });

  it('fails work that writes with ReadOnlyError, having changed nothing, and leaves the broker writable', async () => {
    const error = await broker
      .transact(
        async (tx) => {
          await tx.query(`SELECT name FROM ${table}`);
          await tx.query(`UPDATE ${table} SET name = 'changed'`);
        },
        { readOnly: true },
      )
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(ReadOnlyError);
    expect(error).toMatchObject({ name: 'ReadOnlyError', inTransaction: true, code: readOnlyCode(t) });
    expect((error as Error).message).toMatch(/read-only transaction \(\{ readOnly: true \}\) cannot write/);
    expect(await broker.query(`SELECT name FROM ${table}`)).toEqual([{ name: 'one' }]);
    // The read-only mode ended with the transaction (sqlite: the connection-wide pragma is off again).
    await broker.transact((tx) => tx.query(`UPDATE ${table} SET name = 'two' WHERE id = 1`));
    expect(await broker.query(`SELECT name FROM ${table}`)).toEqual([{ name: 'two' }]);
    await broker.query(`UPDATE ${table} SET name = 'one' WHERE id = 1`);
  });

  it('inside a transaction, joins it as it is (it may write)', async () => {
    await broker.transact(async () => {
      await broker.transact((tx) => tx.query(`UPDATE ${table} SET name = 'joined' WHERE id = 1`), { readOnly: true });
    });
    expect(await broker.query(`SELECT name FROM ${table}`)).toEqual([{ name: 'joined' }]);
    await broker.query(`UPDATE ${table} SET name = 'one' WHERE id = 1`);
  });

  it('refuses options of the wrong kind at once', () => {
    expect(() => broker.transact(() => 1, { readOnly: 'yes' as unknown as boolean })).toThrow(TypeError);
    expect(() => broker.transact(() => 1, { route: 'replicas' as 'replica' })).toThrow(RangeError);
    expect(() => broker.query('SELECT 1', [], { route: 'nowhere' as 'primary' })).toThrow(
      "route must be 'primary' or 'replica', not \"nowhere\"",
    );
    expect(() => broker.query('SELECT 1', [], { after: 'yesterday' })).toThrow(RangeError);
  });

  it("gives '0/0' as its consistency token: without replicas there is nothing to wait for", async () => {
    await expect(broker.consistencyToken()).resolves.toBe('0/0');
  });
});
