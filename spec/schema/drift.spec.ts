import { AccessBroker, InvalidSpecError, SchemaDriftError, type ColumnSpec } from '../../lib';
import { schemaOf } from '../migrations/fixtures';
import { allTargets, uniqueName } from '../support/targets';

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe.each(allTargets)('table() on a table that is already there [$name]', (t) => {
  it('finds no drift in a table made from the same spec, by this broker or by raw SQL of the same types', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('same');
    const spec: ColumnSpec[] = [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'title', type: 'string', length: 40, nullable: false },
      { name: 'price', type: 'decimal', precision: 4 },
      { name: 'at', type: 'datetime' },
    ];
    await b.table(name, spec, { index: { title: ['title', 'at'] } });
    await b.query(`INSERT INTO ${name} (title) VALUES ('kept')`);
    await expect(b.table(name, spec, { index: { title: ['title', 'at'] } })).resolves.toMatchObject({ name });
    const raw = uniqueName('raw');
    await b.query(`CREATE TABLE ${raw} (id integer PRIMARY KEY, n bigint NOT NULL, body text)`);
    await b.table(raw, [
      { name: 'id', type: 'integer', primary: true },
      { name: 'n', type: 'bigint', nullable: false },
      { name: 'body', type: 'text' },
    ]);
    expect(await b.query(`SELECT title FROM ${name}`)).toEqual([{ title: 'kept' }]);
    for (const n of [name, raw]) await b.query(`DROP TABLE ${n}`);
    await b.shutdown();
  });

  it('compares a table with a spec once per process: the same spec again only checks that it is there, and makes it if not', async () => {
    const statements: string[] = [];
    const b = new AccessBroker(t.target());
    const name = uniqueName('once');
    const spec: ColumnSpec[] = [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'title', type: 'string', length: 40 },
    ];
    await b.table(name, spec, { index: { title: ['title'] } });
    const logger = b.dataSource.logger;
    const logQuery = logger.logQuery.bind(logger);
    logger.logQuery = (sql, parameters, runner) => (statements.push(sql), logQuery(sql, parameters, runner));
    try {
      await b.table(name, spec, { index: { title: ['title'] } });
      const again = statements.length;
      // Dropped meanwhile (by another process, say): the next table() makes it again.
      await b.query(`DROP TABLE ${name}`);
      statements.length = 0;
      await b.table(name, spec, { index: { title: ['title'] } });
      expect(statements.length).toBeGreaterThan(again);
      await b.query(`INSERT INTO ${name} (title) VALUES ('back')`);
      expect(await b.query(`SELECT title FROM ${name}`)).toEqual([{ title: 'back' }]);
      // Another spec for the same table is compared again, in full.
      await expect(
        failure(b.table(name, [...spec, { name: 'extra', type: 'text' }], { index: { title: ['title'] } })),
      ).resolves.toBeInstanceOf(SchemaDriftError);
    } finally {
      logger.logQuery = logQuery;
      await b.query(`DROP TABLE IF EXISTS ${name}`);
      await b.shutdown();
    }
  });

  it('says precisely what differs (missing column, type, nullability, index columns, missing index) and changes nothing', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('drift');
    await b.query(`CREATE TABLE ${name} (id integer PRIMARY KEY, label varchar(20), n integer NOT NULL)`);
    await b.query(`CREATE INDEX ix_${name}_label ON ${name} (n)`);
    const before = await schemaOf(b, [name]);
    const error = await failure(
      b.table(
        name,
        [
          { name: 'id', type: 'integer', primary: true },
          { name: 'label', type: 'string', length: 40 },
          { name: 'n', type: 'integer' },
          { name: 'added', type: 'text' },
        ],
        { index: { label: ['label'], n: ['n'] }, evolve: true },
      ),
    );
    expect(error).toBeInstanceOf(SchemaDriftError);
    const drift = error as SchemaDriftError;
    expect(drift.table).toBe(name);
    const varchar = b.dialect === 'postgres' ? 'character varying' : 'varchar';
    expect(drift.differences).toEqual([
      { kind: 'columnType', name: 'label', expected: 'varchar(40)', actual: `${varchar}(20)` },
      { kind: 'columnNullable', name: 'n', expected: 'nullable', actual: 'not null' },
      { kind: 'missingColumn', name: 'added', expected: 'text', actual: 'missing' },
      { kind: 'indexColumns', name: `ix_${name}_label`, expected: '(label)', actual: '(n)' },
      { kind: 'missingIndex', name: `ix_${name}_n`, expected: '(n)', actual: 'missing' },
    ]);
    expect(drift.message).toContain(
      `table ${name} differs from its spec: columnType label (spec: varchar(40), database: `,
    );
    expect(drift.message).toMatch(/table\(\) never drops or changes a column or index: write a migration/);
    // Even with evolve: nothing added while something else differs.
    expect(await schemaOf(b, [name])).toEqual(before);
    await b.query(`DROP TABLE ${name}`);
    await b.shutdown();
  });

  it('with { evolve: true } adds missing columns and indexes, keeping the rows and every other column', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('evolve');
    const v1: ColumnSpec[] = [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'title', type: 'string' },
      { name: 'old', type: 'text' },
    ];
    await b.table(name, v1);
    await b.query(`INSERT INTO ${name} (title, old) VALUES ('a', 'x')`);
    const v2: ColumnSpec[] = [...v1.slice(0, 2), { name: 'note', type: 'text' }, { name: 'n', type: 'bigint' }];
    const error = await failure(b.table(name, v2, { index: { note: ['note'] } }));
    expect(error).toBeInstanceOf(SchemaDriftError);
    expect((error as SchemaDriftError).differences.map((d) => `${d.kind} ${d.name}`)).toEqual([
      'missingColumn note',
      'missingColumn n',
      `missingIndex ix_${name}_note`,
    ]);
    expect((error as Error).message).toMatch(/Pass \{ evolve: true \} to table\(\) to add what is missing/);
    await b.table(name, v2, { index: { note: ['note'] }, evolve: true });
    const schema = (await schemaOf(b, [name]))[name] as { columns: string[]; indexes: string[] };
    expect(schema.columns.map((c) => c.split(':')[0])).toEqual(['id', 'title', 'old', 'note', 'n']);
    expect(schema.indexes).toContain(`ix_${name}_note`);
    expect(await b.query(`SELECT title, old, note FROM ${name}`)).toEqual([{ title: 'a', old: 'x', note: null }]);
    // Evolved, the table matches its spec: no drift without evolve now.
    await expect(b.table(name, v2, { index: { note: ['note'] } })).resolves.toMatchObject({ name });
    await b.query(`DROP TABLE ${name}`);
    await b.shutdown();
  });

  it('reports a missing index as SchemaDriftError without evolve, adding nothing; evolve adds it', async () => {
    const b = new AccessBroker(t.target());
    const name = uniqueName('noindex');
    const spec: ColumnSpec[] = [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'title', type: 'string', length: 40 },
    ];
    try {
      await b.table(name, spec);
      const before = await schemaOf(b, [name]);
      const error = await failure(b.table(name, spec, { index: { title: ['title'] } }));
      expect(error).toBeInstanceOf(SchemaDriftError);
      expect((error as SchemaDriftError).differences).toEqual([
        { kind: 'missingIndex', name: `ix_${name}_title`, expected: '(title)', actual: 'missing' },
      ]);
      expect((error as Error).message).toMatch(/Pass \{ evolve: true \} to table\(\) to add what is missing/);
      expect(await schemaOf(b, [name])).toEqual(before);

      await b.table(name, spec, { index: { title: ['title'] }, evolve: true });
      const indexes = async () => ((await schemaOf(b, [name]))[name] as { indexes: string[] }).indexes;
      expect(await indexes()).toContain(`ix_${name}_title`);
      // Dropped after this process checked the table: the next table() compares it again, and says so.
      await b.query(`DROP INDEX ix_${name}_title`);
      await expect(failure(b.table(name, spec, { index: { title: ['title'] } }))).resolves.toBeInstanceOf(
        SchemaDriftError,
      );
      expect(await indexes()).not.toContain(`ix_${name}_title`);
    } finally {
      await b.query(`DROP TABLE IF EXISTS ${name}`);
      await b.shutdown();
    }
  });

  it('refuses an evolve that is not a boolean before any SQL runs', async () => {
    const b = new AccessBroker(t.target());
    const attempt = b.table(uniqueName('x'), [{ name: 'a', type: 'integer' }], { evolve: 'yes' as unknown as boolean });
    await expect(attempt).rejects.toBeInstanceOf(InvalidSpecError);
    await expect(attempt).rejects.toThrow(/options\.evolve.*must be true or false/);
    await b.shutdown();
  });
});
