import { lastValueFrom, toArray } from 'rxjs';
import { EntitySchema, type DataSourceOptions, type EntityManager } from 'typeorm';
import {
  AccessBroker,
  InvalidParameterError,
  json,
  resolveTarget,
  SerializationError,
  TransactionError,
} from '../../lib';
import { expectPoolWhole } from '../support/brokers';
import { allTargets, ph, uniqueName, type TestTarget } from '../support/targets';

/** A broker with one table holding a column of each kind the values go into. */
class ValuesBroker extends AccessBroker {
  readonly valuesTable = uniqueName('vals');

  protected override async startup(): Promise<void> {
    await this.table(this.valuesTable, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'label', type: 'string', length: 40, nullable: true },
      { name: 'txt', type: 'text', nullable: true },
      { name: 'big', type: 'bigint', nullable: true },
      { name: 'f', type: 'float', nullable: true },
      { name: 'doc', type: 'json', nullable: true },
    ]);
  }

  /** INSERT INTO the table (columns…) VALUES (placeholders…). */
  insert(...columns: string[]): string {
    const marks = columns.map((_, i) => ph(this.dialect, i + 1));
    return `INSERT INTO ${this.valuesTable} (${columns.join(', ')}) VALUES (${marks.join(', ')})`;
  }

  async count(): Promise<number> {
    const [row] = await lastValueFrom(
      this.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${this.valuesTable}`),
    );
    return Number(row!.n);
  }

  async clear(): Promise<void> {
    await lastValueFrom(this.query(`DELETE FROM ${this.valuesTable}`));
  }
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

const MAX64 = 2n ** 63n - 1n;
const MIN64 = -(2n ** 63n);

/** Values every dialect refuses, with a fragment of the reason. */
const REFUSED: [string, () => unknown, RegExp][] = [
  ['a function', () => () => 1, /is a function/],
  ['a symbol', () => Symbol('s'), /is a Symbol/],
  ['a Map', () => new Map([['a', 1]]), /is a Map/],
  ['a Set', () => new Set([1]), /is a Set/],
  ['a class instance', () => new Point(1, 2), /instance of Point/],
  ['a plain object', () => ({ a: 1 }), /plain object.*wrap it with json\(value\)/],
  ['an array', () => [1, 2], /an array.*wrap it with json\(value\)/],
  ['a BigInt above 2^63-1', () => MAX64 + 1n, /64-bit/],
  ['a BigInt below -2^63', () => MIN64 - 1n, /64-bit/],
  ['an invalid Date', () => new Date(NaN), /invalid Date/],
  ['text with a lone surrogate', () => 'a\uD800b', /lone surrogate/],
  ['a Float64Array', () => new Float64Array([1.5]), /Float64Array/],
];

/** Values one dialect refuses (the other stores them exactly). */
const REFUSED_ON: Record<'sqlite' | 'postgres', [string, () => unknown, RegExp][]> = {
  sqlite: [['NaN', () => NaN, /NaN.*NULL/]],
  postgres: [['text with a NUL character', () => 'a\0b', /NUL/]],
};

/** The error a path ended with, whether it came bare or as a TransactionError's cause. */
function parameterError(error: unknown): InvalidParameterError {
  const inner = error instanceof TransactionError ? error.cause : error;
  expect(inner).toBeInstanceOf(InvalidParameterError);
  return inner as InvalidParameterError;
}

/**
 * Each path a value takes to a driver: it puts `bad` at a known position
 * after a good value (so that something would have been written first) and
 * resolves with the error and that position.
 */
type Path = (b: ValuesBroker, bad: unknown) => Promise<{ error: unknown; position: number; bare: boolean }>;

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('the value was accepted');
    },
    (error: unknown) => error,
  );

const PATHS: [string, Path][] = [
  [
    'query()',
    async (b, bad) => ({
      error: await refusal(lastValueFrom(b.query(b.insert('label', 'txt'), ['ok', bad]))),
      position: 2,
      bare: true,
    }),
  ],
  [
    'prepare().query',
    async (b, bad) => ({
      error: await refusal(lastValueFrom(b.prepare(uniqueName('p'), b.insert('label', 'txt')).query(['ok', bad]))),
      position: 2,
      bare: true,
    }),
  ],
  [
    'stream()',
    async (b, bad) => ({
      error: await refusal(
        lastValueFrom(
          b.stream(`SELECT ${ph(b.dialect, 1)} AS a, ${ph(b.dialect, 2)} AS b`, ['ok', bad]).pipe(toArray()),
        ),
      ),
      position: 2,
      bare: true,
    }),
  ],
  [
    'produceRows',
    async (b, bad) => ({
      // The row is { label, txt }: the produced value is the second parameter.
      error: await refusal(
        lastValueFrom(
          b.produceRows((v: unknown) => v, ['ok', bad], b.valuesTable, 'txt', { label: 'p' }).pipe(toArray()),
        ),
      ),
      position: 2,
      bare: false,
    }),
  ],
  [
    "the transaction's manager (tx.query)",
    async (b, bad) => ({
      error: await refusal(
        lastValueFrom(
          b.transact(async (tx: EntityManager) => {
            await tx.query(b.insert('label'), ['first']);
            await tx.query(b.insert('label', 'txt'), ['ok', bad]);
          }),
        ),
      ),
      position: 2,
      bare: false,
    }),
  ],
  [
    "the transaction's manager (QueryBuilder insert)",
    async (b, bad) => ({
      error: await refusal(
        lastValueFrom(
          b.transact(async (tx: EntityManager) => {
            await tx.query(b.insert('label'), ['first']);
            await tx.createQueryBuilder().insert().into(b.valuesTable).values({ txt: bad }).execute();
          }),
        ),
      ),
      position: 1,
      bare: false,
    }),
  ],
];

/** After every refusal: nothing written, the pool whole, the broker serving. */
async function expectUnharmed(b: ValuesBroker): Promise<void> {
  expect(await b.count()).toBe(0);
  await expect(lastValueFrom(b.query('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
  expectPoolWhole(b);
}

describe.each(allTargets)('bound values are checked before any driver sees them [$name]', (t: TestTarget) => {
  let b: ValuesBroker;
  const p = (n: number) => ph(t.dialect, n);
  beforeAll(async () => {
    b = new ValuesBroker(t.target());
    await b.waitUntilRunning();
  });
  afterEach(async () => {
    await b.drain();
    await b.clear();
  });
  afterAll(async () => {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${b.valuesTable}`));
    await b.shutdown();
  });

  const refused = [...REFUSED, ...REFUSED_ON[t.dialect]];
  const cases = PATHS.flatMap(([path, run]) =>
    refused
      // A function in a QueryBuilder's values is TypeORM's raw-SQL feature, never a bound value.
      .filter(([kind]) => !(path.includes('QueryBuilder') && kind === 'a function'))
      .map(([kind, make, reason]) => [kind, path, make, reason, run] as const),
  );

  it.each(cases)(
    'refuses %s through %s: InvalidParameterError at its position, nothing written',
    async (_kind, _path, make, reason, run) => {
      const { error, position, bare } = await run(b, make());
      if (bare) expect(error).toBeInstanceOf(InvalidParameterError);
      else expect(error).toBeInstanceOf(TransactionError);
      const e = parameterError(error);
      expect(e.position).toBe(position);
      expect(e.message).toMatch(new RegExp(`^parameter ${position} `));
      expect(e.message).toMatch(reason);
      await expectUnharmed(b);
    },
  );

  it('fails a stream with refused values before it takes a connection', async () => {
    const before = b.connectionStats();
    const stream = b.stream(`SELECT ${p(1)} AS a`, [{ a: 1 }]);
    await expect(lastValueFrom(stream)).rejects.toBeInstanceOf(InvalidParameterError);
    expect(b.connectionStats()).toEqual(before);
  });

  it.each([
    ['5n', 5n],
    ['-(2n ** 63n)', MIN64],
    ['2n ** 63n - 1n', MAX64],
    ['-5n', -5n],
    ['2n ** 53n + 1n', 2n ** 53n + 1n],
  ])('stores the BigInt %s exactly in a bigint column, on every path', async (_name, n) => {
    await lastValueFrom(b.query(b.insert('label', 'big'), ['query', n]));
    await lastValueFrom(b.prepare(uniqueName('p'), b.insert('label', 'big')).query(['prepare', n]));
    await lastValueFrom(
      b.transact((tx) =>
        tx.createQueryBuilder().insert().into(b.valuesTable).values({ label: 'qb', big: n }).execute(),
      ),
    );
    await lastValueFrom(b.produceRows((v: bigint) => v, [n], b.valuesTable, 'big', { label: 'produced' }));
    const rows = await lastValueFrom(
      b.query<{ label: string; big: string }>(
        `SELECT label, CAST(big AS TEXT) AS big FROM ${b.valuesTable} ORDER BY id`,
      ),
    );
    expect(rows).toEqual(['query', 'prepare', 'qb', 'produced'].map((label) => ({ label, big: n.toString() })));
    // A bound BigInt finds the row it wrote, in a stream too.
    const found = await lastValueFrom(
      b
        .stream<{ label: string }>(`SELECT label FROM ${b.valuesTable} WHERE big = ${p(1)} ORDER BY id`, [n])
        .pipe(toArray()),
    );
    expect(found.map((r) => r.label)).toEqual(['query', 'prepare', 'qb', 'produced']);
    if (t.dialect === 'sqlite') {
      const [kind] = await lastValueFrom(
        b.query<{ k: string }>(`SELECT DISTINCT typeof(big) AS k FROM ${b.valuesTable}`),
      );
      expect(kind).toEqual({ k: 'integer' });
    }
  });

  it('round-trips json() into a json column (jsonb on postgres, text on sqlite), on every path', async () => {
    const doc = { a: [1, 'x', null], b: { c: true }, d: 'é "q"' };
    await lastValueFrom(b.query(b.insert('label', 'doc'), ['query', json(doc)]));
    await lastValueFrom(b.prepare(uniqueName('p'), b.insert('label', 'doc')).query(['prepare', json(doc)]));
    await lastValueFrom(
      b.transact((tx) =>
        tx
          .createQueryBuilder()
          .insert()
          .into(b.valuesTable)
          .values({ label: 'qb', doc: json(doc) })
          .execute(),
      ),
    );
    await lastValueFrom(b.produceRows(() => json(doc), [1], b.valuesTable, 'doc', { label: 'produced' }));
    const rows = await lastValueFrom(b.query<{ doc: unknown }>(`SELECT doc FROM ${b.valuesTable} ORDER BY id`));
    expect(rows).toHaveLength(4);
    for (const { doc: stored } of rows) {
      expect(typeof stored === 'string' ? JSON.parse(stored) : stored).toEqual(doc);
    }
    if (t.dialect === 'postgres') {
      const [row] = await lastValueFrom(
        b.query<{ t: string }>(`SELECT jsonb_typeof(doc) AS t FROM ${b.valuesTable} LIMIT 1`),
      );
      expect(row).toEqual({ t: 'object' });
    }
  });

  it('json() takes its text at once and refuses values without JSON text', () => {
    const doc = { n: 1 };
    const marker = json(doc);
    doc.n = 2;
    expect(marker.text).toBe('{"n":1}');
    expect(Object.isFrozen(marker)).toBe(true);
    expect(() => json(undefined)).toThrow(SerializationError);
    expect(() => json(1n)).toThrow(SerializationError);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => json(cycle)).toThrow(SerializationError);
  });

  it('binds undefined as NULL, like null', async () => {
    await lastValueFrom(b.query(b.insert('label', 'txt'), ['u', undefined]));
    await lastValueFrom(b.query(b.insert('label', 'txt'), ['n', null]));
    const rows = await lastValueFrom(b.query(`SELECT label, txt FROM ${b.valuesTable} ORDER BY id`));
    expect(rows).toEqual([
      { label: 'u', txt: null },
      { label: 'n', txt: null },
    ]);
  });

  it('stores ±Infinity (and NaN and -0 on postgres) exactly in a float column', async () => {
    const values = t.dialect === 'postgres' ? [Infinity, -Infinity, NaN, -0, 5e-324] : [Infinity, -Infinity, 5e-324];
    for (const v of values) await lastValueFrom(b.query(b.insert('f'), [v]));
    const rows = await lastValueFrom(b.query<{ f: number }>(`SELECT f FROM ${b.valuesTable} ORDER BY id`));
    rows.forEach((row, i) => expect(Object.is(row.f, values[i])).toBe(true));
  });

  it('stores bytes from a Buffer and from a plain Uint8Array alike', async () => {
    const blob = t.dialect === 'postgres' ? 'bytea' : 'blob';
    const sql = `SELECT CAST(${p(1)} AS ${blob}) AS a, CAST(${p(2)} AS ${blob}) AS b`;
    const [row] = await lastValueFrom(
      b.query<{ a: Buffer; b: Buffer }>(sql, [Buffer.from([1, 0, 255]), new Uint8Array([1, 0, 255])]),
    );
    expect([...row!.a]).toEqual([1, 0, 255]);
    expect([...row!.b]).toEqual([1, 0, 255]);
  });

  describe('counts values against the SQL, as postgres does, on every path', () => {
    const mismatches: [string, (b: ValuesBroker) => Promise<unknown>, number][] = [
      ['query() with too few', (b) => lastValueFrom(b.query(b.insert('label', 'txt'), ['one'])), 2],
      ['query() with too many', (b) => lastValueFrom(b.query(b.insert('label'), ['one', 'two'])), 2],
      ['query() with no parameters at all', (b) => lastValueFrom(b.query(b.insert('label'))), 1],
      [
        'prepare().query with too few',
        (b) => lastValueFrom(b.prepare(uniqueName('p'), b.insert('label', 'txt')).query(['one'])),
        2,
      ],
      ['stream() with too many', (b) => lastValueFrom(b.stream(`SELECT ${ph(b.dialect, 1)} AS a`, [1, 2])), 2],
      [
        'tx.query with too few',
        (b) => lastValueFrom(b.transact(async (tx) => void (await tx.query(b.insert('label', 'txt'), ['one'])))),
        2,
      ],
    ];
    it.each(mismatches)('%s: InvalidParameterError, nothing written', async (_name, run, position) => {
      const e = parameterError(await refusal(run(b)));
      expect(e.position).toBe(position);
      expect(e.message).toMatch(/placeholder/);
      await expectUnharmed(b);
    });

    it('does not count placeholders inside strings, quoted names or comments', async () => {
      const quoted = t.dialect === 'postgres' ? `"a?$1"` : `"a?:x"`;
      const sql = `SELECT '?$1:a' AS ${quoted}, ${p(1)} AS b /* ? $2 :b */ -- ? $3\n`;
      await expect(lastValueFrom(b.query(sql, ['7']))).resolves.toEqual([{ [quoted.slice(1, -1)]: '?$1:a', b: '7' }]);
    });
  });
});

describe.each(allTargets.filter((t) => t.dialect === 'sqlite'))('sqlite placeholder forms [$name]', (t) => {
  let b: AccessBroker;
  beforeAll(() => (b = new AccessBroker(t.target())));
  afterAll(() => b.shutdown());

  it.each([
    ['?NNN', 'SELECT ?2 AS b, ?1 AS a', [1, 2], { b: 2, a: 1 }],
    [':name, repeated', 'SELECT :x AS a, :x AS b, @y AS c', [1, 2], { a: 1, b: 1, c: 2 }],
    ['$name', 'SELECT $x AS a, ? AS b', [1, 2], { a: 1, b: 2 }],
    ['[bracketed] and `backquoted` names', 'SELECT ? AS [a?], ? AS `b?`', [1, 2], { 'a?': 1, 'b?': 2 }],
  ])('%s: counted as sqlite numbers them', async (_form, sql, values, row) => {
    await expect(lastValueFrom(b.query(sql, values))).resolves.toEqual([row]);
    const e = parameterError(await refusal(lastValueFrom(b.query(sql, values.slice(1)))));
    expect(e.position).toBe(values.length);
  });
});

interface Row {
  id?: number;
  txt?: unknown;
  at?: unknown;
  n?: unknown;
  doc?: unknown;
}

/** A broker whose table is also a TypeORM entity, for tx.getRepository(). */
class EntityBroker extends AccessBroker {
  constructor(
    target: DataSourceOptions,
    readonly rowsTable: string,
    readonly Row: EntitySchema<Row>,
  ) {
    super(target);
  }

  protected override async startup(): Promise<void> {
    await this.table(this.rowsTable, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'txt', type: 'text', nullable: true },
      { name: 'at', type: 'datetime', nullable: true },
      { name: 'n', type: 'float', nullable: true },
      { name: 'doc', type: jsonColumn(this.dialect), nullable: true },
    ]);
  }
}

/** The entity's JSON column: jsonb on postgres; on sqlite TypeORM's simple-json, stored as text. */
function jsonColumn(dialect: string): 'json' | 'text' {
  return dialect === 'postgres' ? 'json' : 'text';
}

describe.each(allTargets)("entity values through the transaction's repository [$name]", (t: TestTarget) => {
  let b: EntityBroker;
  beforeAll(async () => {
    const table = uniqueName('rows');
    const Row = new EntitySchema<Row>({
      name: table,
      tableName: table,
      columns: {
        id: { type: Number, primary: true, generated: true },
        txt: { type: 'text', nullable: true },
        at: { type: t.dialect === 'postgres' ? 'timestamptz' : 'datetime', nullable: true },
        n: { type: t.dialect === 'postgres' ? 'double precision' : 'double', nullable: true },
        doc: { type: t.dialect === 'postgres' ? 'jsonb' : 'simple-json', nullable: true },
      },
    });
    const options = { ...resolveTarget(t.target()).options, entities: [Row] } as DataSourceOptions;
    b = new EntityBroker(options, table, Row);
    await b.waitUntilRunning();
  });
  afterAll(async () => {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${b.rowsTable}`));
    await b.shutdown();
  });
  afterEach(() => lastValueFrom(b.query(`DELETE FROM ${b.rowsTable}`)));

  const count = async () =>
    Number((await lastValueFrom(b.query<{ n: number | string }>(`SELECT COUNT(*) AS n FROM ${b.rowsTable}`)))[0]!.n);

  it('saves ordinary entities as before (TypeORM turns their JSON column into text itself)', async () => {
    const at = new Date('2026-11-21T01:02:03.004Z');
    await lastValueFrom(b.transact((tx) => tx.getRepository(b.Row).save({ txt: 'a', at, n: 1.5, doc: { k: [1] } })));
    const [row] = await lastValueFrom(b.transact((tx) => tx.getRepository(b.Row).find()));
    expect(row).toMatchObject({ txt: 'a', n: 1.5, doc: { k: [1] } });
    expect(new Date(row!.at as Date).getTime()).toBe(at.getTime());
  });

  const bad: [string, Row][] = [
    ['a plain object in a text column', { txt: { a: 1 } }],
    ['a Map in a text column', { txt: new Map() }],
    ['an invalid Date', { at: new Date(NaN) }],
    ...(t.dialect === 'sqlite' ? [['NaN', { n: NaN }] as [string, Row]] : []),
  ];
  it.each(bad)(
    'refuses %s in save(): TransactionError caused by InvalidParameterError, nothing written',
    async (_k, row) => {
      const error = await refusal(
        lastValueFrom(
          b.transact(async (tx) => {
            await tx.getRepository(b.Row).save({ txt: 'first' });
            await tx.getRepository(b.Row).save(row);
          }),
        ),
      );
      expect(error).toBeInstanceOf(TransactionError);
      expect(parameterError(error).position).toBeGreaterThanOrEqual(1);
      expect(await count()).toBe(0);
    },
  );
});
