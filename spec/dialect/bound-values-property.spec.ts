import fc from 'fast-check';
import { lastValueFrom } from 'rxjs';
import { AccessBroker, InvalidParameterError, json } from '../../lib';
import { expectPoolWhole } from '../support/brokers';
import { allTargets, ph, type TestTarget } from '../support/targets';

const MIN64 = -(2n ** 63n);
const MAX64 = 2n ** 63n - 1n;
const RUNS = Number(process.env.RUNS ?? 40);

type Dialect = 'sqlite' | 'postgres';

/** An allowed value, how to select it back as itself, and what comes back. */
interface Case {
  readonly value: unknown;
  /** postgres: the cast that makes `SELECT $n` return the value's type rather than text. */
  readonly cast: string;
  readonly expected: (dialect: Dialect) => unknown;
}

const same = (v: unknown) => () => v;

/** Allowed scalar values, with what each dialect gives back for `SELECT <placeholder>`. */
function allowed(dialect: Dialect): fc.Arbitrary<Case> {
  const text = fc.string({ unit: 'grapheme', maxLength: 20 }).filter((s) => dialect === 'sqlite' || !s.includes('\0'));
  return fc.oneof(
    fc.constantFrom<Case>(
      { value: null, cast: 'text', expected: same(null) },
      { value: undefined, cast: 'text', expected: same(null) },
    ),
    text.map((s): Case => ({ value: s, cast: 'text', expected: same(s) })),
    fc
      .double({ noNaN: dialect === 'sqlite' })
      // sqlite has no negative zero: node-sqlite3 binds -0 as the integer 0.
      .map((d): Case => ({ value: d, cast: 'float8', expected: (dl) => (dl === 'sqlite' && d === 0 ? 0 : d) })),
    fc.integer().map((n): Case => ({ value: n, cast: 'float8', expected: same(n) })),
    fc.boolean().map((b): Case => ({ value: b, cast: 'boolean', expected: (dl) => (dl === 'sqlite' ? Number(b) : b) })),
    fc.bigInt({ min: MIN64, max: MAX64 }).map((n): Case => ({
      value: n,
      cast: 'int8',
      // pg returns int8 as text; sqlite returns what it was bound as: a Number within 2^53, else its text.
      expected: (dl) =>
        dl === 'postgres' || n > BigInt(Number.MAX_SAFE_INTEGER) || n < BigInt(Number.MIN_SAFE_INTEGER)
          ? n.toString()
          : Number(n),
    })),
    fc
      .date({ min: new Date('1000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true })
      .map((d): Case => ({
        value: d,
        cast: 'timestamptz',
        expected: (dl) => (dl === 'postgres' ? d : d.toISOString().replace('T', ' ').replace('Z', '')),
      })),
    fc.uint8Array({ maxLength: 16 }).map((u): Case => ({ value: u, cast: 'bytea', expected: same(Buffer.from(u)) })),
    fc
      .uint8Array({ maxLength: 16 })
      .map((u): Case => ({ value: Buffer.from(u), cast: 'bytea', expected: same(Buffer.from(u)) })),
    fc
      .jsonValue({ maxDepth: 2 })
      // jsonb refuses the escape \u0000 (the database says so; nothing is changed silently).
      .filter((v) => !JSON.stringify(v).includes('\\u0000'))
      .map((v): Case => ({
        value: json(v),
        cast: 'jsonb',
        expected: (dl) => (dl === 'postgres' ? JSON.parse(JSON.stringify(v)) : JSON.stringify(v)),
      })),
  );
}

class Point {
  readonly x = 1;
}

/** Values every dialect refuses, plus the one each refuses on its own. */
function refused(dialect: Dialect): fc.Arbitrary<unknown> {
  return fc.oneof(
    fc.constant(() => 1),
    fc.string().map((s) => Symbol(s)),
    fc.dictionary(fc.string(), fc.integer()).map((o) => new Map(Object.entries(o))),
    fc.array(fc.integer()).map((a) => new Set(a)),
    fc.constant(new Point()),
    fc.object({ maxDepth: 1 }),
    fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 4 }),
    fc.bigInt({ min: MAX64 + 1n, max: MAX64 * 4n }),
    fc.bigInt({ min: MIN64 * 4n, max: MIN64 - 1n }),
    fc.constant(new Date(NaN)),
    fc.tuple(fc.string(), fc.integer({ min: 0xd800, max: 0xdfff })).map(([s, c]) => s + String.fromCharCode(c)),
    fc.array(fc.double(), { minLength: 1, maxLength: 3 }).map((a) => Float64Array.from(a)),
    dialect === 'sqlite' ? fc.constant(NaN) : fc.string().map((s) => `${s}\0`),
  );
}

function rowValues(row: Record<string, unknown>, n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => row[`v${i}`]);
}

describe.each(allTargets)('bound values, property-based [$name]', (t: TestTarget) => {
  let b: AccessBroker;
  beforeAll(async () => {
    b = new AccessBroker(t.target());
    await b.waitUntilRunning();
  });
  afterAll(() => b.shutdown());

  const select = (cases: readonly { cast: string }[]) =>
    'SELECT ' +
    cases
      .map(({ cast }, i) => (t.dialect === 'postgres' ? `${ph(t.dialect, i + 1)}::${cast}` : '?') + ` AS v${i}`)
      .join(', ');

  it('selects any array of allowed values back unchanged (by the dialect’s type rules)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(allowed(t.dialect), { minLength: 1, maxLength: 8 }), async (cases) => {
        const [row] = await lastValueFrom(
          b.query<Record<string, unknown>>(
            select(cases),
            cases.map((c) => c.value),
          ),
        );
        expect(rowValues(row!, cases.length)).toEqual(cases.map((c) => c.expected(t.dialect)));
      }),
      { numRuns: RUNS },
    );
    expectPoolWhole(b);
  });

  it('refuses any disallowed value at its position, wherever it is among allowed ones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(allowed(t.dialect), { maxLength: 4 }),
        refused(t.dialect),
        fc.array(
          fc.oneof(
            allowed(t.dialect).map((c) => c.value),
            refused(t.dialect),
          ),
          { maxLength: 4 },
        ),
        async (before, bad, after) => {
          const values = [...before.map((c) => c.value), bad, ...after];
          const sql = select(values.map(() => ({ cast: 'text' })));
          const error = await lastValueFrom(b.query(sql, values)).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(InvalidParameterError);
          expect((error as InvalidParameterError).position).toBe(before.length + 1);
        },
      ),
      { numRuns: RUNS },
    );
    expectPoolWhole(b);
  });

  it('refuses any count of values that differs from the placeholders, naming the first missing or extra one', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(6), fc.nat(6), async (placeholders, given) => {
        fc.pre(placeholders !== given && placeholders > 0);
        const sql = select(Array.from({ length: placeholders }, () => ({ cast: 'text' })));
        const error = await lastValueFrom(
          b.query(
            sql,
            Array.from({ length: given }, (_, i) => String(i)),
          ),
        ).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidParameterError);
        expect((error as InvalidParameterError).position).toBe(Math.min(placeholders, given) + 1);
      }),
      { numRuns: RUNS },
    );
  });
});
