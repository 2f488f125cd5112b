import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { DatabaseError } from '../lib/errors';
import { resolveTarget, type DatabaseTarget } from '../lib/target';

/** Calls resolveTarget and returns what it threw. */
function thrownBy(target: DatabaseTarget): unknown {
  try {
    resolveTarget(target);
  } catch (err) {
    return err;
  }
  throw new Error(`resolveTarget(${JSON.stringify(target)}) did not throw`);
}

describe('resolveTarget: sqlite', () => {
  it("resolves 'sqlite::memory:' to an in-memory database", () => {
    const resolved = resolveTarget('sqlite::memory:');
    expect(resolved.key).toBe('sqlite::memory:');
    expect(resolved.label).toBe('sqlite::memory:');
    expect(resolved.options).toMatchObject({ type: 'sqlite', database: ':memory:' });
  });

  it('resolves a relative file against the working directory', () => {
    const resolved = resolveTarget('sqlite:rel/x.db');
    const expected = path.resolve(process.cwd(), 'rel/x.db');
    expect(path.isAbsolute(expected)).toBe(true);
    expect(resolved.options).toMatchObject({ type: 'sqlite', database: expected });
    expect(resolved.key).toBe(`sqlite:${expected}`);
    expect(resolved.label).toBe(`sqlite:${expected}`);
  });

  it("resolves 'sqlite:///abs/x.db' to the absolute file /abs/x.db", () => {
    const resolved = resolveTarget('sqlite:///abs/x.db');
    expect(resolved.options).toMatchObject({ type: 'sqlite', database: '/abs/x.db' });
    expect(resolved.key).toBe('sqlite:/abs/x.db');
  });

  it('gives every spelling of the same file the same key', () => {
    const abs = path.resolve('rel/x.db');
    const spellings = [
      'sqlite:rel/x.db',
      'sqlite:./rel/x.db',
      'sqlite:rel/../rel/x.db',
      `sqlite://${abs}`,
      `sqlite:${abs}`,
    ];
    const keys = new Set(spellings.map((t) => resolveTarget(t).key));
    expect([...keys]).toEqual([`sqlite:${abs}`]);
  });

  it('gives different files different keys', () => {
    expect(resolveTarget('sqlite:a.db').key).not.toBe(resolveTarget('sqlite:b.db').key);
    expect(resolveTarget('sqlite:a.db').key).not.toBe(resolveTarget('sqlite::memory:').key);
  });
});

describe('resolveTarget: postgres', () => {
  it.each(['postgres', 'postgresql'])("resolves '%s://u:p@h:5432/db' to a postgres URL", (scheme) => {
    const target = `${scheme}://u:p@h:5432/db`;
    const resolved = resolveTarget(target);
    expect(resolved.options.type).toBe('postgres');
    expect(resolved.options).toMatchObject({ url: target });
    expect(resolved.options).not.toHaveProperty('poolSize');
    expect(resolved.label).toBe(`${scheme}://u:***@h:5432/db`);
  });

  it("sets poolSize from '?max=4' and removes it from the URL", () => {
    const resolved = resolveTarget('postgres://u:p@h:5432/db?max=4');
    expect(resolved.options).toMatchObject({ type: 'postgres', poolSize: 4 });
    const url = (resolved.options as { url: string }).url;
    expect(url).not.toContain('max');
    expect(new URL(url).searchParams.has('max')).toBe(false);
    expect(url).toBe('postgres://u:p@h:5432/db');
    expect(resolved.label).toBe('postgres://u:***@h:5432/db?max=4');
  });

  it('keeps other query parameters in the URL when removing max', () => {
    const resolved = resolveTarget('postgres://u:p@h/db?sslmode=require&max=3');
    const url = new URL((resolved.options as { url: string }).url);
    expect(url.searchParams.get('sslmode')).toBe('require');
    expect(url.searchParams.has('max')).toBe(false);
    expect(resolved.options).toMatchObject({ poolSize: 3 });
  });

  it('shows other query parameters and max in a well-formed label', () => {
    const { label } = resolveTarget('postgres://u:p@h/db?sslmode=require&max=3');
    expect(label.split('?')).toHaveLength(2);
    const query = new URLSearchParams(label.split('?')[1]);
    expect(query.get('sslmode')).toBe('require');
    expect(query.get('max')).toBe('3');
  });

  it('gives different pool sizes different keys, and the same URL the same key', () => {
    const a = resolveTarget('postgres://u:p@h/db?max=4').key;
    expect(resolveTarget('postgres://u:p@h/db?max=4').key).toBe(a);
    expect(resolveTarget('postgres://u:p@h/db?max=5').key).not.toBe(a);
    expect(resolveTarget('postgres://u:p@h/db').key).not.toBe(a);
  });

  it.each([
    'postgres://alice:S3cretPw@h:5432/db',
    'postgresql://alice:S3cretPw@h/db?max=4',
    'postgres://alice:S3cretPw@h/db?sslmode=require&max=2',
    'postgres://alice:S3cretPw%40x@h/db',
    'postgres://alice:S3cretPw@x@h/db',
  ])('never puts the password in the label of %s', (target) => {
    const { label } = resolveTarget(target);
    expect(label).not.toContain('S3cretPw');
    expect(label).toContain('alice');
    expect(label).toContain('***');
  });
});

describe('resolveTarget: DataSourceOptions', () => {
  it.each<DataSourceOptions>([
    { type: 'postgres', host: 'h', database: 'db', password: 'S3cretPw' },
    { type: 'sqlite', database: ':memory:' },
  ])('passes a $type DataSourceOptions object through unchanged', (options) => {
    const resolved = resolveTarget(options);
    expect(resolved.options).toBe(options);
    expect(resolved.key).toBe(options);
    expect(resolved.label).toBe(`${options.type} (DataSourceOptions)`);
    expect(resolved.label).not.toContain('S3cretPw');
  });
});

describe('resolveTarget: a DataSource', () => {
  it('keeps the DataSource itself, keyed by the object: never a copy', () => {
    const ds = new DataSource({ type: 'sqlite', database: ':memory:' });
    const resolved = resolveTarget(ds);
    expect(resolved.dataSource).toBe(ds);
    expect(resolved.key).toBe(ds);
    expect(resolved.options).toBe(ds.options);
    expect(resolved.label).toBe('sqlite DataSource (:memory:)');
    expect(resolveTarget(ds).key).toBe(resolved.key);
    // Another DataSource on the same database is another target.
    expect(resolveTarget(new DataSource({ type: 'sqlite', database: ':memory:' })).key).not.toBe(ds);
  });

  it('labels a postgres DataSource without its password', () => {
    const withUrl = resolveTarget(new DataSource({ type: 'postgres', url: 'postgres://alice:S3cretPw@h/db' }));
    expect(withUrl.label).toBe('postgres DataSource (postgres://alice:***@h/db)');
    const withFields = resolveTarget(
      new DataSource({ type: 'postgres', host: 'h', database: 'db', username: 'alice', password: 'S3cretPw' }),
    );
    expect(withFields.label).toBe('postgres DataSource (h/db)');
  });

  const shaped = (type: unknown): object => ({
    options: { type },
    isInitialized: false,
    initialize: () => Promise.resolve(),
    destroy: () => Promise.resolve(),
    createQueryRunner: () => undefined,
  });

  it('takes anything shaped like a DataSource (an app may load a second copy of TypeORM)', () => {
    const ds = shaped('postgres');
    expect(resolveTarget(ds as DataSource).dataSource).toBe(ds);
  });

  it.each(['mysql', 'better-sqlite3', 'mssql'])(
    'refuses a DataSource of type %s, naming the supported types',
    (type) => {
      const err = thrownBy(shaped(type) as DataSource) as DatabaseError;
      expect(err).toBeInstanceOf(DatabaseError);
      expect(err.message).toBe(
        `a TypeORM DataSource of type '${type}' is not supported: sasync works with DataSources of type 'sqlite' or ` +
          "'postgres' (sqlite through the 'sqlite3' package: type 'sqlite', not 'better-sqlite3'); make one of those for sasync",
      );
      expect(err.target).toBe(`${type} DataSource`);
    },
  );

  it.each<[string, object, string]>([
    ['no createQueryRunner', { ...shaped('sqlite'), createQueryRunner: undefined }, 'createQueryRunner'],
    ['no isInitialized', { ...shaped('sqlite'), isInitialized: undefined }, 'isInitialized'],
    ['no options.type', { ...shaped(undefined) }, 'options.type'],
    [
      'only an initialize()',
      { initialize: () => undefined },
      'destroy, createQueryRunner, isInitialized, options.type',
    ],
  ])('refuses an object with %s as not a DataSource, naming what it lacks', (_what, target, lacks) => {
    const err = thrownBy(target as DataSource) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.message).toContain(`this object is not a TypeORM DataSource (it has no ${lacks})`);
  });
});

describe('resolveTarget: errors', () => {
  it.each<[string, DatabaseTarget]>([
    ['an unknown scheme', 'mysql://u:p@h:3306/db'],
    ['no scheme at all', 'foo'],
    ['an empty string', ''],
    ['a postgres URL with nothing after the scheme', 'postgres://'],
    ['a postgres URL without a host', 'postgres://:5432/db'],
    ['a postgres URL without a database', 'postgres://h/'],
    ['a postgres URL without a path', 'postgres://h'],
    ['a sqlite URL with a host', 'sqlite://host/x.db'],
    ['a sqlite URL without a file', 'sqlite:'],
    ['a sqlite URL naming a directory', 'sqlite:///'],
    ['a pool size of 1', 'postgres://u:p@h/db?max=1'],
    ['a pool size that is not a number', 'postgres://u:p@h/db?max=abc'],
    ['a pool size that is not an integer', 'postgres://u:p@h/db?max=2.5'],
    ['an unsupported DataSourceOptions type', { type: 'mysql', host: 'h', database: 'db' }],
  ])('throws DatabaseError naming the accepted forms for %s', (_what, target) => {
    const err = thrownBy(target);
    expect(err).toBeInstanceOf(DatabaseError);
    const message = (err as DatabaseError).message;
    expect(message).toContain('sqlite::memory:');
    expect(message).toContain('postgres://');
    expect(message).toContain('DataSourceOptions');
    expect((err as DatabaseError).target).toBeDefined();
  });

  it('says why a target was refused', () => {
    expect((thrownBy('foo') as Error).message).toContain('unknown scheme');
    expect((thrownBy('postgres://h/') as Error).message).toContain('no database name');
    expect((thrownBy('sqlite://host/x.db') as Error).message).toContain("use 'sqlite:///absolute/path.db'");
    expect((thrownBy('sqlite:') as Error).message).toContain('no file name');
    expect((thrownBy('postgres://h/db?max=abc') as Error).message).toContain('max must be an integer of at least 2');
    expect((thrownBy({ type: 'mysql' } as DataSourceOptions) as Error).message).toContain("'mysql'");
  });

  it('keeps the URL parser error as the cause of a malformed URL', () => {
    const err = thrownBy('postgres://:5432/db') as DatabaseError;
    // Node's URL error comes from another realm than jest's, so check its shape, not its class.
    expect(err.cause).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_URL' });
  });

  it('throws DatabaseError for a target that is neither a string nor an object', () => {
    for (const target of [undefined, null, 42]) {
      expect(thrownBy(target as unknown as DatabaseTarget)).toBeInstanceOf(DatabaseError);
    }
  });

  it.each([
    'postgres://alice:S3cretPw@h/',
    'postgres://alice:S3cretPw@h/db?max=1',
    'postgres://alice:S3cretPw@h/db?max=abc',
    'postgres://alice:S3cretPw@:5432/db',
    'postgres://alice:pa@S3cretPw@h/',
  ])('never puts the password in the error for %s', (target) => {
    const err = thrownBy(target) as DatabaseError;
    expect(err).toBeInstanceOf(DatabaseError);
    expect(err.message).not.toContain('S3cretPw');
    expect(err.target).not.toContain('S3cretPw');
  });
});
