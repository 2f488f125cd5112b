import fc from 'fast-check';
import { lastValueFrom } from 'rxjs';
import {
  AccessBroker,
  InvalidIdentifierError,
  InvalidSpecError,
  PORTABLE_TYPES,
  type ColumnSpec,
  type TableOptions,
} from '../../lib';
import { loggedOptions, queryLog, type QueryLog } from '../support/brokers';
import { allTargets, ph, uniqueName, type TestTarget } from '../support/targets';

/** A table of this file's own, which no hostile spec may touch. */
const victim = uniqueName('victim');
const DROP = `); DROP TABLE ${victim}; --`;

/** Specs that once reached SQL, or could: each must be refused before any statement runs. */
const hostile: [string, unknown[], unknown?][] = [
  ['precision from the issue', [{ name: 'd', type: 'decimal', precision: `1,0)${DROP}` }]],
  ['scale', [{ name: 'd', type: 'decimal', precision: 10, scale: `0)${DROP}` }]],
  ['length as text', [{ name: 's', type: 'string', length: `1${DROP}` }]],
  ['a default', [{ name: 'n', type: 'integer', default: `0${DROP}` }]],
  ['a string default', [{ name: 's', type: 'text', default: `x')${DROP}` }]],
  ['nullable as text', [{ name: 'n', type: 'integer', nullable: `false${DROP}` }]],
  ['primary as text', [{ name: 'n', type: 'integer', primary: 'yes' }]],
  ['generated as a number', [{ name: 'n', type: 'integer', primary: true, generated: 1 }]],
  ['an unknown field', [{ name: 'n', type: 'integer', check: `1=1${DROP}` }]],
  // Found by the property below (seed -1381024582): String() of it throws.
  ['a name that is an object String() cannot print', [{ name: { toString: 0 }, type: 'integer' }]],
  ['a unique flag (an index option, not a column field)', [{ name: 'n', type: 'integer', unique: true }]],
  ['a type with SQL in it', [{ name: 'n', type: `integer${DROP}` }]],
  ['a type that is not a string', [{ name: 'n', type: ['integer'] }]],
  ['precision 0', [{ name: 'd', type: 'decimal', precision: 0 }]],
  ['precision 1001', [{ name: 'd', type: 'decimal', precision: 1001 }]],
  ['precision 1.5', [{ name: 'd', type: 'decimal', precision: 1.5 }]],
  ['precision NaN', [{ name: 'd', type: 'decimal', precision: NaN }]],
  ['precision as a numeric string', [{ name: 'd', type: 'decimal', precision: '18' }]],
  ['a negative scale', [{ name: 'd', type: 'decimal', scale: -1 }]],
  ['a scale above the precision', [{ name: 'd', type: 'decimal', precision: 4, scale: 5 }]],
  ['a scale above the default precision', [{ name: 'd', type: 'decimal', scale: 19 }]],
  ['precision on an integer', [{ name: 'n', type: 'integer', precision: 5 }]],
  ['length on text', [{ name: 't', type: 'text', length: 5 }]],
  ['length 0', [{ name: 's', type: 'string', length: 0 }]],
  ['length beyond varchar', [{ name: 's', type: 'string', length: 10_485_761 }]],
  ['a nullable primary key', [{ name: 'n', type: 'integer', primary: true, nullable: true }]],
  [
    'a generated part of a composite key',
    [
      { name: 'a', type: 'integer', primary: true, generated: true },
      { name: 'b', type: 'integer', primary: true },
    ],
  ],
  ['a column spec that is not an object', ['n integer']],
  [
    'a column spec whose getter throws',
    [
      {
        name: 'n',
        get type(): string {
          throw new Error('no type for you');
        },
      },
    ],
  ],
  [
    'a columns array whose element getter throws',
    new Proxy([{ name: 'n', type: 'integer' }], {
      get: (target, key) => {
        if (key === '0') throw new Error('no column for you');
        return Reflect.get(target, key);
      },
    }),
  ],
  ['a column spec that is an array', [['n', 'integer']]],
  ['an index on SQL', [{ name: 'n', type: 'integer' }], { index: { n: [`n${DROP}`] } }],
  ['an index naming a column twice', [{ name: 'n', type: 'integer' }], { index: { n: ['n', 'n'] } }],
  [
    'an index column that is not a string',
    [{ name: 'n', type: 'integer' }],
    { unique: { n: [{ toString: () => 'n' }] } },
  ],
  ['an unknown option', [{ name: 'n', type: 'integer' }], { where: `1=1${DROP}` }],
  ['index options that are not an object', [{ name: 'n', type: 'integer' }], { index: 'n' }],
];

/** A broker whose every statement is logged, and the victim table with one row. */
async function withVictim(t: TestTarget, fn: (b: AccessBroker, log: QueryLog) => Promise<void>): Promise<void> {
  const log = queryLog();
  const b = new AccessBroker(loggedOptions(t.target(), log));
  await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${victim}`));
  await lastValueFrom(b.query(`CREATE TABLE ${victim} (n integer)`));
  await lastValueFrom(b.query(`INSERT INTO ${victim} (n) VALUES (1)`));
  try {
    await fn(b, log);
  } finally {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${victim}`));
    await b.shutdown();
  }
}

async function victimRows(b: AccessBroker): Promise<number> {
  const [row] = await lastValueFrom(b.query<{ c: number | string }>(`SELECT count(*) AS c FROM ${victim}`));
  return Number(row!.c);
}

async function tableExists(b: AccessBroker, name: string): Promise<boolean> {
  const sql =
    b.dialect === 'postgres'
      ? 'SELECT count(*) AS c FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1'
      : "SELECT count(*) AS c FROM sqlite_master WHERE type = 'table' AND name = ?";
  const [row] = await lastValueFrom(b.query<{ c: number | string }>(sql, [name]));
  return Number(row!.c) === 1;
}

/** Calls table() and says whether it was refused before any statement ran, or created the table. */
async function attempt(
  b: AccessBroker,
  log: QueryLog,
  name: string,
  columns: unknown,
  options?: unknown,
): Promise<'refused' | 'created'> {
  const before = log.queries.length;
  try {
    await b.table(name, columns as ColumnSpec[], options as TableOptions);
  } catch (error) {
    if (!(error instanceof InvalidSpecError || error instanceof InvalidIdentifierError)) throw error;
    expect(log.queries.slice(before)).toEqual([]);
    return 'refused';
  }
  expect(await tableExists(b, name)).toBe(true);
  await lastValueFrom(b.query(`DROP TABLE ${name}`));
  return 'created';
}

describe.each(allTargets)('table() checks every field of a spec [$name]', (t) => {
  it('refuses hostile and out-of-range fields before any SQL runs, and another table stays intact', () =>
    withVictim(t, async (b, log) => {
      for (const [what, columns, options] of hostile) {
        const result = await attempt(b, log, uniqueName('hostile'), columns, options).catch((e: unknown) => e);
        expect([what, result]).toEqual([what, 'refused']);
      }
      expect(await victimRows(b)).toBe(1);
    }));

  it('names the table, the column and the field in an InvalidSpecError', () =>
    withVictim(t, async (b) => {
      const error = await b
        .table('t_spec', [{ name: 'd', type: 'decimal', precision: `1,0)${DROP}` as never }])
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidSpecError);
      expect(error).toMatchObject({ table: 't_spec', column: 'd', field: 'precision' });
      expect((error as Error).message).toMatch(/precision must be an integer from 1 to 1000/);
      const unknown = await b.table('t_spec', [{ name: 'n', type: 'integer', colour: 'red' } as never]).catch((e) => e);
      expect(unknown).toMatchObject({ name: 'InvalidSpecError', column: 'n', field: 'colour' });
      expect(unknown.message).toMatch(/colour is not a column field/);
      const option = await b.table('t_spec', [{ name: 'n', type: 'integer' }], { uniq: {} } as never).catch((e) => e);
      expect(option).toMatchObject({ name: 'InvalidSpecError', column: undefined, field: 'options.uniq' });
    }));

  it('checks the value it uses: a getter cannot pass the check with one value and reach the DDL with another', () =>
    withVictim(t, async (b, log) => {
      // Right for as many reads as a check might make, then SQL.
      let reads = 0;
      const column = {
        name: 's',
        type: 'string',
        get length() {
          return ++reads <= 3 ? 10 : `10${DROP}`;
        },
      };
      const name = uniqueName('getter');
      expect(await attempt(b, log, name, [column])).toBe('created');
      expect(reads).toBe(1);
      expect(await victimRows(b)).toBe(1);
    }));

  it('accepts the ends of each range, and a decimal whose precision is below the default scale', () =>
    withVictim(t, async (b) => {
      const name = uniqueName('ranges');
      await b.table(name, [
        { name: 'wide', type: 'decimal', precision: 1000, scale: 0 },
        { name: 'frac', type: 'decimal', precision: 1, scale: 1 },
        { name: 'small', type: 'decimal', precision: 4 },
        { name: 'long', type: 'string', length: 10_485_760 },
        { name: 'one', type: 'string', length: 1 },
      ]);
      // A generated bigint key: bigserial on postgres, sqlite's 64-bit INTEGER PRIMARY KEY.
      const keyed = uniqueName('bigkey');
      await b.table(keyed, [
        { name: 'id', type: 'bigint', primary: true, generated: true },
        { name: 'n', type: 'integer' },
      ]);
      await lastValueFrom(b.query(`INSERT INTO ${keyed} (n) VALUES (1)`));
      await lastValueFrom(b.query(`DROP TABLE ${keyed}`));
      // decimal(4) keeps 4 digits, at most all of them after the point: 12.5 needs 2 before it.
      await lastValueFrom(
        b.query(`INSERT INTO ${name} (small, frac, one) VALUES (${ph(b.dialect, 1)}, 0.5, 'x')`, [0.25]),
      );
      const [row] = await lastValueFrom(b.query<{ small: string | number }>(`SELECT small FROM ${name}`));
      expect(Number(row!.small)).toBe(0.25);
      await lastValueFrom(b.query(`DROP TABLE ${name}`));
    }));
});

/** Column names: mostly valid ones, so that the other fields get checked too. */
const columnName = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom('a', 'b', 'value', 'n_1', 'Mixed') },
  { weight: 1, arbitrary: fc.anything() },
);
const sqlish = fc.constantFrom(DROP, '1,0)', '10', '', ' ', "'", '"', '0); --', '1e3');
const numberish = fc.oneof(
  fc.integer({ min: -3, max: 1100 }),
  fc.constantFrom(0, 1, 6, 18, 255, 1000, 1001, 10_485_760, 10_485_761, NaN, Infinity, -0, 1.5),
  sqlish,
  fc.anything(),
);
const flag = fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: fc.anything() });
/** Mostly absent (undefined), so that specs where every field is fine come up too. */
const sometimes = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 12, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
const columnSpec = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      name: columnName,
      type: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...PORTABLE_TYPES) },
        { weight: 1, arbitrary: fc.anything() },
      ),
      length: sometimes(numberish),
      precision: sometimes(numberish),
      scale: sometimes(numberish),
      primary: sometimes(flag),
      generated: sometimes(flag),
      nullable: sometimes(flag),
      default: sometimes(fc.oneof(fc.integer(), sqlish)),
      extra: sometimes(sqlish),
    }),
  },
  { weight: 1, arbitrary: fc.anything() },
);
const tableOptions = fc.option(
  fc.record(
    {
      index: fc.dictionary(fc.constantFrom('i1', 'i2'), fc.array(columnName, { maxLength: 3 })),
      unique: fc.dictionary(fc.constantFrom('u1', 'u2'), fc.array(columnName, { maxLength: 3 })),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined, freq: 2 },
);

describe.each(allTargets)('table() with arbitrary specs [$name]', (t) => {
  it('either refuses a spec before any SQL runs or creates the table, and never touches another table', () =>
    withVictim(t, async (b, log) => {
      const outcomes = { refused: 0, created: 0 };
      await fc.assert(
        fc.asyncProperty(
          fc.array(columnSpec, { minLength: 1, maxLength: 3 }),
          tableOptions,
          async (columns, options) => {
            outcomes[await attempt(b, log, uniqueName('arb'), columns, options)]++;
            expect(await victimRows(b)).toBe(1);
          },
        ),
        { numRuns: Number(process.env.RUNS ?? 200) },
      );
      // Both branches were exercised: the property says something about each.
      expect(outcomes.refused).toBeGreaterThan(0);
      expect(outcomes.created).toBeGreaterThan(0);
    }));
});
