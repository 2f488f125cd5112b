import { concat, defer, lastValueFrom, throwError } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, DatabaseError, InvalidIdentifierError, TransactionError, type ColumnSpec } from '../../lib';
import { ItemsBroker } from '../support/brokers';
import { allTargets } from '../support/targets';

/**
 * Table names in the database, from its catalog, leaving out what other
 * test processes sharing the postgres database make and drop meanwhile:
 * their own tables (named `<prefix>_<pid>_<random>`, or with a suffix after
 * it, as a migration spec's `m_<pid>_<random>_notes`), and on postgres
 * sasync's shared tables (`sasync_changes`, which the change log specs drop
 * and make again). The row of this broker's own table is checked apart.
 */
async function tableNames(b: AccessBroker): Promise<string[]> {
  const sql =
    b.dialect === 'postgres'
      ? 'SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()'
      : "SELECT name FROM sqlite_master WHERE type = 'table'";
  const names = (await lastValueFrom(b.query<{ name: string }>(sql))).map((r) => r.name);
  return names.filter((n) => {
    if (b.dialect === 'postgres' && n.startsWith('sasync_')) return false;
    const owner = /_(\d+)_[a-z0-9]{1,6}(?:_|$)/.exec(n)?.[1];
    return owner === undefined || Number(owner) === process.pid;
  });
}

const INJECTIONS = [
  'x"; DROP TABLE y; --',
  "x'; DROP TABLE y; --",
  'has space',
  'semi;colon',
  'select',
  'DROP',
  '1abc',
  '',
];

describe.each(allTargets)('bad input gets a typed error, writes nothing, and the broker keeps serving [$name]', (t) => {
  let b: ItemsBroker;
  let before: string[];
  beforeAll(async () => {
    b = new ItemsBroker(t.target());
    await b.waitUntilRunning();
    await lastValueFrom(b.query(b.insertSql(), ['kept']));
  });
  beforeEach(async () => {
    before = (await tableNames(b)).sort();
  });
  afterEach(async () => {
    // Nothing was created or dropped, the existing row is intact, and a
    // normal transaction still works.
    expect((await tableNames(b)).sort()).toEqual(before);
    expect(await b.names()).toEqual(['kept']);
    await expect(lastValueFrom(b.transact(async (tx) => (await tx.query('SELECT 1 AS one'))[0].one))).resolves.toBe(1);
  });
  afterAll(async () => {
    await b.dropItems();
    await b.shutdown();
  });

  it.each([21, -21, 1.5, NaN, Infinity, '5'])('refuses niceness %p with RangeError before queuing', (niceness) => {
    const work = jest.fn();
    expect(() => b.transact(work, { niceness: niceness as number })).toThrow(RangeError);
    expect(() => b.transact(work, { niceness: niceness as number })).toThrow(/integer from -20/);
    expect(() => b.query('SELECT 1', [], { niceness: niceness as number })).toThrow(RangeError);
    expect(() => b.run(work, { niceness: niceness as number })).toThrow(RangeError);
    const method = b.transaction(work);
    expect(() => method.with({ niceness: niceness as number })).toThrow(RangeError);
    expect(work).not.toHaveBeenCalled();
  });

  it('refuses doNext and doLast together with RangeError', () => {
    expect(() => b.transact(jest.fn(), { doNext: true, doLast: true })).toThrow(/choose one/);
  });

  it.each([
    ['retry', { retry: -1 }],
    ['retry', { retry: 1.5 }],
    ['timeout', { timeout: 0 }],
    ['isolation', { isolation: 'SOMETIMES' }],
  ])('refuses a bad %s option with RangeError', (_name, options) => {
    expect(() => b.transact(jest.fn(), options as never)).toThrow(RangeError);
  });

  it.each(['mysql://u@h/db', 'postgres://', 'postgres://h:notaport/db', 'sqlite:', 'http://example.com'])(
    'refuses the target %p with DatabaseError',
    (target) => {
      expect(() => new AccessBroker(target)).toThrow(DatabaseError);
    },
  );

  it.each(INJECTIONS)('refuses the table name %p', async (name) => {
    await expect(b.table(name, [{ name: 'n', type: 'integer' }])).rejects.toBeInstanceOf(InvalidIdentifierError);
  });

  it.each(INJECTIONS)('refuses the column name %p', async (name) => {
    await expect(b.table('ok_table', [{ name, type: 'integer' }])).rejects.toMatchObject({
      name: 'InvalidIdentifierError',
      kind: 'column',
    });
  });

  it.each(INJECTIONS)('refuses the index name %p', async (name) => {
    const error = await b
      .table('ok_table', [{ name: 'n', type: 'integer' }], { index: { [name]: ['n'] } })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InvalidIdentifierError);
    expect(error.kind).toBe('index');
  });

  it('refuses duplicate column names', async () => {
    const columns: ColumnSpec[] = [
      { name: 'n', type: 'integer' },
      { name: 'N', type: 'text' },
    ];
    await expect(b.table('ok_table', columns)).rejects.toThrow(/already has a column/);
  });

  it('refuses an unknown column type, naming the known ones', async () => {
    const error = await b.table('ok_table', [{ name: 'n', type: 'varchr' as never }]).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidIdentifierError);
    expect(error.message).toMatch(/use one of integer, .*json/);
  });

  it('refuses an index on a column the table does not have', async () => {
    await expect(b.table('ok_table', [{ name: 'n', type: 'integer' }], { unique: { u: ['missing'] } })).rejects.toThrow(
      /has no column "missing"/,
    );
  });

  type Failing = (tx: EntityManager, insert: () => Promise<unknown>) => unknown;
  const failures: [string, Failing][] = [
    [
      'throws',
      async (_tx, insert) => {
        await insert();
        throw new Error('thrown');
      },
    ],
    ['returns a rejected promise', (_tx, insert) => insert().then(() => Promise.reject(new Error('rejected')))],
    [
      'errors its Observable',
      (_tx, insert) =>
        concat(
          defer(insert),
          throwError(() => new Error('observable error')),
        ),
    ],
  ];
  it.each(failures)('rolls back work that %s, with TransactionError keeping the cause', async (_how, fail) => {
    const error = await lastValueFrom(
      b.transact((tx) => fail(tx, () => tx.query(b.insertSql(), ['must vanish']))),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as TransactionError).message).toMatch(/rolled back/);
    expect((error as TransactionError).cause).toBeInstanceOf(Error);
  });

  it('rolls back synchronously throwing work', async () => {
    const error = await lastValueFrom(
      b.transact(() => {
        throw new Error('sync');
      }),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransactionError);
    expect((error as Error).cause).toEqual(new Error('sync'));
  });

  it('reports malformed SQL with TransactionError carrying the SQL and the driver code', async () => {
    const error = (await lastValueFrom(b.query('SELEC nonsense FROM')).catch((e: unknown) => e)) as TransactionError;
    expect(error).toBeInstanceOf(TransactionError);
    expect(error.sql).toBe('SELEC nonsense FROM');
    expect(error.method).toBe('query');
    expect(error.code).toBe(t.dialect === 'postgres' ? '42601' : 'SQLITE_ERROR');
  });

  it('binds values as parameters, never as SQL', async () => {
    const evil = `x'); DROP TABLE ${b.itemsTable}; --`;
    await lastValueFrom(b.transact(async (tx) => tx.query(b.insertSql(), [evil])));
    expect(await b.names()).toEqual(['kept', evil]);
    await lastValueFrom(b.query(`DELETE FROM ${b.itemsTable} WHERE name <> 'kept'`));
  });
});
