import { lastValueFrom } from 'rxjs';
import { AccessBroker, commitWith, TransactionError } from '../../lib';
import { countSocketWrites } from '../../bench/socket-write-count';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** The server's port: only the writes of sockets to it are counted. */
const PORT = Number(new URL(PG_URL).port || 5432);

/**
 * The writes sockets to the server hand to the system while `run('counted')`
 * runs, after `run('warm')` has warmed the connection up (its statements
 * prepared), and what the counted run gave.
 */
async function writesOf(run: (tag: string) => Promise<unknown>): Promise<{ writes: number; result: unknown }> {
  await run('warm');
  const writes = countSocketWrites((socket) => socket.remotePort === PORT);
  try {
    const result = await run('counted');
    return { writes: writes.count(), result };
  } finally {
    writes.restore();
  }
}

describePg('statements sent in one turn leave in one write [postgres]', () => {
  let b: AccessBroker;
  const table = uniqueName('onewrite');
  const insert = `INSERT INTO ${table} (v) VALUES ($1) RETURNING id`;
  const select = `SELECT v FROM ${table} WHERE id = $1`;

  beforeAll(async () => {
    b = new AccessBroker(PG_URL);
    await lastValueFrom(b.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, v text NOT NULL UNIQUE)`));
  });
  afterAll(async () => {
    await lastValueFrom(b.query(`DROP TABLE IF EXISTS ${table}`));
    await b.shutdown();
  });

  const stored = async (v: string) =>
    ((await lastValueFrom(b.query(`SELECT count(*)::int AS n FROM ${table} WHERE v = $1`, [v]))) as { n: number }[])[0]!
      .n;

  it('BEGIN and the first statement: one write, then one for COMMIT', async () => {
    const v = uniqueName('first');
    const { writes } = await writesOf((tag) => lastValueFrom(b.transact((tx) => tx.query(insert, [`${v}-${tag}`]))));
    expect(writes).toBe(2);
    expect(await stored(`${v}-counted`)).toBe(1);
  });

  it('a statement and the COMMIT commitWith() sends behind it: one write', async () => {
    const v = uniqueName('last');
    const { writes, result } = await writesOf((tag) =>
      lastValueFrom(
        b.transact(async (tx) => {
          const [row] = (await tx.query(insert, [`${v}-${tag}`])) as { id: number }[];
          return commitWith(tx, select, [row!.id]);
        }),
      ),
    );
    // BEGIN + INSERT, SELECT + COMMIT.
    expect(writes).toBe(2);
    expect(result).toEqual([{ v: `${v}-counted` }]);
    expect(await stored(`${v}-counted`)).toBe(1);
  });

  it('statements the work sends together: one write, each with its own answer, in order', async () => {
    const v = uniqueName('together');
    const { writes, result } = await writesOf((tag) =>
      lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert, [`${v}-${tag}-a`]);
          const rows = await Promise.all(['b', 'c', 'd'].map((y) => tx.query(insert, [`${v}-${tag}-${y}`])));
          return rows.map((r) => (r as { id: number }[])[0]!.id);
        }),
      ),
    );
    // BEGIN + a, then b, c and d, then COMMIT.
    expect(writes).toBe(3);
    const ids = result as number[];
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(3);
  });

  it('a failing statement among those written together still rolls back and is the one named', async () => {
    const v = uniqueName('failing');
    await lastValueFrom(b.transact((tx) => tx.query(insert, [`${v}-taken`])));
    const failure = await lastValueFrom(
      b.transact(async (tx) => {
        await Promise.all([
          tx.query(insert, [`${v}-one`]),
          tx.query(insert, [`${v}-taken`]),
          tx.query(insert, [`${v}-three`]),
        ]);
      }),
    ).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(TransactionError);
    expect(String((failure as Error).message)).toMatch(/duplicate key|unique/i);
    expect(await stored(`${v}-one`)).toBe(0);
    expect(await stored(`${v}-three`)).toBe(0);
    // And the broker keeps serving.
    expect(await lastValueFrom(b.transact((tx) => tx.query(insert, [`${v}-after`])))).toHaveLength(1);
  });
});
