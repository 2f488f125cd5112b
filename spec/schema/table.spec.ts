import { lastValueFrom } from 'rxjs';
import type { DataSourceOptions } from 'typeorm';
import { AccessBroker, TransactionError, type TableInfo } from '../../lib';
import { loggedOptions, queryLog } from '../support/brokers';
import { allTargets, fileAndPg, pgAvailable, postgres, uniqueName, type TestTarget } from '../support/targets';

/** Index name → unique?, read from the database catalog itself. */
async function catalogIndexes(b: AccessBroker, table: string): Promise<Record<string, boolean>> {
  if (b.dialect === 'postgres') {
    const rows = await lastValueFrom(
      b.query<{ indexname: string; indexdef: string }>(
        'SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1',
        [table],
      ),
    );
    return Object.fromEntries(rows.map((r) => [r.indexname, /UNIQUE INDEX/.test(r.indexdef)]));
  }
  const rows = await lastValueFrom(
    b.query<{ name: string; unique: number }>(`SELECT name, "unique" FROM pragma_index_list(?)`, [table]),
  );
  return Object.fromEntries(rows.map((r) => [r.name, r.unique === 1]));
}

const columns = [
  { name: 'id', type: 'integer', primary: true, generated: true },
  { name: 'dt', type: 'datetime' },
  { name: 'ip', type: 'string', length: 15 },
  { name: 'value', type: 'string', length: 100 },
] as const;
const indexes = { index: { dt: ['dt'], ip_dt: ['ip', 'dt'] }, unique: { value: ['value'] } };

async function dropTable(t: TestTarget, target: string, name: string): Promise<void> {
  const b = new AccessBroker(target);
  await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${name}`));
  await b.shutdown();
  void t;
}

describe.each(allTargets)('table() [$name]', (t) => {
  it('creates a table once when called three times at once, with its indexes in the catalog', async () => {
    const log = queryLog();
    const b = new AccessBroker(loggedOptions(t.target(), log));
    const name = uniqueName('tbl');
    const infos = await Promise.all([1, 2, 3].map(() => b.table(name, [...columns], indexes)));
    expect(infos[0]).toBe(infos[1]);
    expect(log.count(/^CREATE TABLE/i)).toBe(1);
    expect(log.count(/^CREATE (UNIQUE )?INDEX/i)).toBe(3);
    expect(await catalogIndexes(b, name)).toEqual(
      expect.objectContaining({ [`ix_${name}_dt`]: false, [`ix_${name}_ip_dt`]: false, [`ux_${name}_value`]: true }),
    );
    const info: TableInfo = b.tables[name]!;
    expect(info.columns.map((c) => c.name)).toEqual(['id', 'dt', 'ip', 'value']);
    expect(info.indexes.value).toEqual({ dbName: `ux_${name}_value`, columns: ['value'], unique: true });
    // The unique index is real: a duplicate value is refused.
    const insert = `INSERT INTO ${name} (value) VALUES (${b.dialect === 'postgres' ? '$1' : '?'})`;
    await lastValueFrom(b.query(insert, ['same']));
    await expect(lastValueFrom(b.query(insert, ['same']))).rejects.toBeInstanceOf(TransactionError);
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.shutdown();
  });

  it('maps portable types so values of each round-trip', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('types');
    await b.table(name, [
      { name: 'i', type: 'integer' },
      { name: 's', type: 'smallint' },
      { name: 'big', type: 'bigint' },
      { name: 'f', type: 'float' },
      { name: 'd', type: 'decimal', precision: 10, scale: 2 },
      { name: 'str', type: 'string', length: 5 },
      { name: 'txt', type: 'text' },
      { name: 'b', type: 'boolean' },
      { name: 'dt', type: 'datetime' },
      { name: 'day', type: 'date' },
      { name: 'bin', type: 'blob' },
      { name: 'j', type: 'json' },
    ]);
    const p = (n: number) => (b.dialect === 'postgres' ? `$${n}` : '?');
    const when = new Date('2026-11-21T01:02:03.000Z');
    // node-sqlite3 reads integers as JavaScript numbers: beyond 2^53 they lose
    // precision (documented in the README). Postgres returns bigint as a string.
    const big = b.dialect === 'postgres' ? '9007199254740993' : String(Number.MAX_SAFE_INTEGER);
    await lastValueFrom(
      b.query(
        `INSERT INTO ${name} (i, s, big, f, d, str, txt, b, dt, day, bin, j) VALUES (${Array.from({ length: 12 }, (_, k) => p(k + 1)).join(', ')})`,
        [42, 7, big, 1.5, '12.34', 'abcde', 'long text', true, when, '2026-11-21', Buffer.from([1, 2, 3]), '{"a":1}'],
      ),
    );
    const [row] = await lastValueFrom(b.query<Record<string, unknown>>(`SELECT * FROM ${name}`));
    expect(Number(row!.i)).toBe(42);
    expect(String(row!.big)).toBe(big);
    expect(Number(row!.f)).toBe(1.5);
    expect(Number(row!.d)).toBe(12.34);
    expect(row!.str).toBe('abcde');
    expect(Boolean(row!.b)).toBe(true);
    // postgres returns a Date; sqlite returns TypeORM's UTC text, 2026-11-21 01:02:03.000.
    const dt = row!.dt instanceof Date ? row!.dt : new Date(`${String(row!.dt).replace(' ', 'T')}Z`);
    expect(dt.getTime()).toBe(when.getTime());
    // Bound Dates compare correctly with other bound Dates and with the database's own time values.
    const later = new Date(when.getTime() + 3600_000);
    const count = async (sql: string, params: unknown[]) =>
      Number((await lastValueFrom(b.query<{ n: number }>(sql, params)))[0]!.n);
    expect(await count(`SELECT count(*) AS n FROM ${name} WHERE dt < ${p(1)}`, [later])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM ${name} WHERE dt > ${p(1)}`, [later])).toBe(0);
    const dbTime =
      b.dialect === 'postgres' ? `'2026-11-21 02:00:00+00'::timestamptz` : `datetime('2026-11-21 02:00:00')`;
    expect(await count(`SELECT count(*) AS n FROM ${name} WHERE dt > ${dbTime}`, [])).toBe(0);
    expect(await count(`SELECT count(*) AS n FROM ${name} WHERE dt < ${dbTime}`, [])).toBe(1);
    expect(Buffer.from(row!.bin as Uint8Array)).toEqual(Buffer.from([1, 2, 3]));
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.shutdown();
  });
});

describe.each(allTargets)('table() checks the catalog each time [$name]', (t) => {
  it('creates the table again after it was dropped', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('again');
    await b.table(name, [{ name: 'n', type: 'integer' }]);
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.table(name, [{ name: 'n', type: 'integer' }]);
    await expect(lastValueFrom(b.query(`SELECT count(*) AS c FROM ${name}`))).resolves.toHaveLength(1);
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.shutdown();
  });

  it('gives concurrent calls with different specs for one name their own indexes (the later one evolving)', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('specs');
    const cols = [
      { name: 'a', type: 'integer' },
      { name: 'b', type: 'integer' },
    ] as const;
    const [first, second] = await Promise.all([
      b.table(name, [...cols]),
      // Whichever runs second finds the table there: an index it lacks is drift, added only with evolve.
      b.table(name, [...cols], { index: { b: ['b'] }, evolve: true }),
    ]);
    expect(Object.keys(first.indexes)).toEqual([]);
    expect(Object.keys(second.indexes)).toEqual(['b']);
    expect(await catalogIndexes(b, name)).toEqual(expect.objectContaining({ [`ix_${name}_b`]: false }));
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.shutdown();
  });
});

describe.each(fileAndPg)('table() across DataSources [$name]', (t) => {
  it('lets a second broker on the same database see the table without creating it again', async () => {
    const target = t.target();
    const name = uniqueName('seen');
    const first = new AccessBroker(target);
    await first.table(name, [...columns], indexes);
    await lastValueFrom(first.query(`INSERT INTO ${name} (value) VALUES ('from first')`));
    // A DataSourceOptions object is its own DataSource: it must find the table in the catalog.
    const log = queryLog();
    const second = new AccessBroker(loggedOptions(target, log));
    await second.table(name, [...columns], indexes);
    expect(log.count(/^CREATE/i)).toBe(0);
    await expect(lastValueFrom(second.query(`SELECT value FROM ${name}`))).resolves.toEqual([{ value: 'from first' }]);
    await second.shutdown();
    await first.shutdown();
    await dropTable(t, target, name);
  });
});

describe.each(allTargets)('table() inside a transaction [$name]', (t) => {
  it('creates the table as part of that transaction: rolled back with it, committed with it', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('inside');
    const failing = b.transact(async () => {
      await b.table(name, [...columns], indexes);
      throw new Error('changed my mind');
    });
    await expect(lastValueFrom(failing)).rejects.toThrow(/changed my mind/);
    const exists = async () =>
      (await catalogIndexes(b, name))[`ux_${name}_value`] === true &&
      (await lastValueFrom(b.query(`SELECT count(*) AS c FROM ${name}`)).then(
        () => true,
        () => false,
      ));
    expect(await exists()).toBe(false);
    await lastValueFrom(b.transact(() => b.table(name, [...columns], indexes)));
    expect(await exists()).toBe(true);
    await lastValueFrom(b.query(`DROP TABLE ${name}`));
    await b.shutdown();
  });
});

(pgAvailable ? describe : describe.skip)('table() in a postgres schema of its own [postgres]', () => {
  it('finds the table and its indexes in that schema when another DataSource starts', async () => {
    const schema = uniqueName('schema');
    const admin = new AccessBroker(postgres.target());
    await lastValueFrom(admin.query(`CREATE SCHEMA ${schema}`));
    try {
      for (const round of [1, 2]) {
        const log = queryLog();
        const options = { ...loggedOptions(postgres.target(), log), schema } as DataSourceOptions;
        const b = new AccessBroker(options);
        await b.table('in_schema', [...columns], indexes);
        expect([round, log.count(/^CREATE/i)]).toEqual([round, round === 1 ? 4 : 0]);
        await b.shutdown();
      }
      const rows = await lastValueFrom(
        admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [
          schema,
          'in_schema',
        ]),
      );
      expect(Number(rows[0]!.n)).toBe(4); // the primary key's and three of its own
    } finally {
      await lastValueFrom(admin.query(`DROP SCHEMA ${schema} CASCADE`));
      await admin.shutdown();
    }
  });
});
