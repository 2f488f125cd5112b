import net from 'node:net';
import { lastValueFrom } from 'rxjs';
import { AccessBroker, commitWith, TransactionError } from '../../lib';
import { PG_URL, pgAvailable, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** The server's port: only the writes of sockets to it are counted. */
const PORT = Number(new URL(PG_URL).port || 5432);

/**
 * Counts the writes sockets to the server hand to the system while `run`
 * runs: a socket's `_write` (one chunk) or `_writev` (the chunks held while
 * it was corked), a system call each.
 */
async function writesOf(run: () => Promise<unknown>): Promise<{ writes: number; result: unknown }> {
  const proto = net.Socket.prototype as net.Socket & {
    _writev(chunks: unknown[], cb: (err?: Error | null) => void): void;
  };
  let writes = 0;
  const count = function (this: net.Socket) {
    if (this.remotePort === PORT) writes++;
  };
  const original = { write: proto._write, writev: proto._writev };
  proto._write = function (this: net.Socket, ...args: Parameters<net.Socket['_write']>) {
    count.call(this);
    return original.write.apply(this, args);
  };
  proto._writev = function (this: net.Socket, ...args: Parameters<typeof proto._writev>) {
    count.call(this);
    return original.writev.apply(this, args);
  };
  try {
    const result = await run();
    return { writes, result };
  } finally {
    proto._write = original.write;
    proto._writev = original.writev;
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
    // Once to warm the connection up (its statement prepared), then counted.
    await lastValueFrom(b.transact((tx) => tx.query(insert, [`${v}-warm`])));
    const { writes } = await writesOf(() => lastValueFrom(b.transact((tx) => tx.query(insert, [v]))));
    expect(writes).toBe(2);
    expect(await stored(v)).toBe(1);
  });

  it('a statement and the COMMIT commitWith() sends behind it: one write', async () => {
    const v = uniqueName('last');
    const small = (x: string) =>
      lastValueFrom(
        b.transact(async (tx) => {
          const [row] = (await tx.query(insert, [x])) as { id: number }[];
          return commitWith(tx, select, [row!.id]);
        }),
      );
    await small(`${v}-warm`);
    const { writes, result } = await writesOf(() => small(v));
    // BEGIN + INSERT, SELECT + COMMIT.
    expect(writes).toBe(2);
    expect(result).toEqual([{ v }]);
    expect(await stored(v)).toBe(1);
  });

  it('statements the work sends together: one write, each with its own answer, in order', async () => {
    const v = uniqueName('together');
    const work = (x: string) =>
      lastValueFrom(
        b.transact(async (tx) => {
          await tx.query(insert, [`${x}-a`]);
          const rows = await Promise.all(['b', 'c', 'd'].map((y) => tx.query(insert, [`${x}-${y}`])));
          return rows.map((r) => (r as { id: number }[])[0]!.id);
        }),
      );
    await work(`${v}-warm`);
    const { writes, result } = await writesOf(() => work(v));
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
