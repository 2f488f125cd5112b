import { lastValueFrom } from 'rxjs';
import { array, InvalidParameterError } from '../../lib';
import { withItems } from '../support/brokers';
import { allTargets, pgAvailable, postgres, sqliteFile, sqliteMemory, uniqueName } from '../support/targets';
import { AccessBroker } from '../../lib';

const describePg = pgAvailable ? describe : describe.skip;

describePg('array(values): a postgres array parameter [postgres]', () => {
  let b: AccessBroker;
  const table = uniqueName('arrays');
  beforeAll(async () => {
    b = new AccessBroker(postgres.target());
    await lastValueFrom(
      b.query(
        `CREATE TABLE ${table} (id serial PRIMARY KEY, ints integer[], texts text[], big bigint[], grid integer[][])`,
      ),
    );
  });
  afterAll(async () => {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`));
    await b.shutdown();
  });

  it('matches with = ANY($1) [postgres]', async () => {
    const rows = await lastValueFrom(
      b.query<{ n: number }>('SELECT n FROM generate_series(1, 10) AS n WHERE n = ANY($1) ORDER BY n', [
        array([2, 3, 5, 7]),
      ]),
    );
    expect(rows.map((r) => r.n)).toEqual([2, 3, 5, 7]);
  });

  it('round-trips every element exactly, quotes, braces, commas, NULL and 64-bit integers included [postgres]', async () => {
    const texts = ['a,b', '{x}', 'say "hi"', 'back\\slash', '', null, 'NULL', 'é 😀'];
    const big = [-(2n ** 63n), 2n ** 63n - 1n, 0n];
    const grid = [
      [1, 2],
      [3, 4],
    ];
    const [row] = await lastValueFrom(
      b.query<{ ints: number[]; texts: (string | null)[]; big: string[]; grid: number[][] }>(
        `INSERT INTO ${table} (ints, texts, big, grid) VALUES ($1, $2, $3, $4) RETURNING ints, texts, big, grid`,
        [array([1, -2, 3]), array(texts), array(big), array(grid)],
      ),
    );
    expect(row!.ints).toEqual([1, -2, 3]);
    expect(row!.texts).toEqual(texts);
    expect(row!.big.map((v) => BigInt(v))).toEqual(big);
    expect(row!.grid).toEqual(grid);
  });

  it('refuses an element a parameter could not be, naming the position and where in the array [postgres]', async () => {
    const error = await lastValueFrom(b.query('SELECT $1::text, $2::int[]', ['ok', array([1, [2, { x: 3 }]])])).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect((error as InvalidParameterError).position).toBe(2);
    expect((error as Error).message).toMatch(/\[1\]\[1\]/);
  });

  it('still refuses a plain JavaScript array, and says to use array() or json() [postgres]', async () => {
    const error = await lastValueFrom(b.query('SELECT $1::int[]', [[1, 2]])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidParameterError);
    expect((error as Error).message).toMatch(/array\(values\)/);
    expect((error as Error).message).toMatch(/json\(value\)/);
  });
});

describe.each([sqliteMemory, sqliteFile])('array(values) on sqlite [$name]', (t) => {
  it(`is refused (sqlite has no arrays), nothing is written, and json() is named instead [${t.name}]`, () =>
    withItems(t, async (b) => {
      const error = await lastValueFrom(b.query(b.insertSql(), [array(['a'])])).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidParameterError);
      expect((error as InvalidParameterError).position).toBe(1);
      expect((error as Error).message).toMatch(/json\(values\)/);
      expect(await b.names()).toEqual([]);
    }));
});

describe.each(allTargets)('array(values) takes only an array [$name]', (t) => {
  it(`throws TypeError for anything else [${t.name}]`, () => {
    expect(() => array('abc' as unknown as string[])).toThrow(TypeError);
  });
});
