import { lastValueFrom } from 'rxjs';
import { watchTables } from '../../lib/live/table-changes';
import { fileAndPg, type TestTarget } from '../support/targets';
import { Recorder } from './table-recorder';
import { childWriter, outsideWriter, type Writer } from './table-writers';
import { TablesBroker } from './tables-broker';

/** A small seeded generator (mulberry32): the same steps on every run of a seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each(fileAndPg)('watchTables across processes [$name]', (t: TestTarget) => {
  let target: string;
  let broker: TablesBroker;

  beforeEach(async () => {
    target = t.target();
    broker = new TablesBroker(target);
    await broker.waitUntilRunning();
  });

  afterEach(async () => {
    await broker.drop();
    await broker.shutdown();
  });

  it(`reports another process's commit [${t.name}]`, async () => {
    const rec = new Recorder();
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    const child = await childWriter(target);
    try {
      await w.positioned;
      const heard = rec.next(broker.a);
      await child.insert(broker.a, 'from the child');
      await heard;
      expect(await broker.count(broker.a)).toBe(1);
    } finally {
      await child.close();
      w.stop();
    }
  }, 60_000);

  it(`reports a write made outside sasync (${t.dialect === 'postgres' ? 'a plain pg.Client' : 'a node-sqlite3 connection of its own'}) [${t.name}]`, async () => {
    const rec = new Recorder();
    const w = watchTables(broker, [{ name: broker.a }], rec.listener);
    const outside = await outsideWriter(t, target);
    try {
      await w.positioned;
      const heard = rec.next(broker.a);
      await outside.insert(broker.a, 'from outside');
      await heard;
      expect(await broker.count(broker.a)).toBe(1);
    } finally {
      await outside.close();
      w.stop();
    }
  });

  /**
   * Seeded random steps, each a commit to a or b by this broker, another
   * process or a connection outside sasync, or a rolled-back write: every
   * commit is reported (each awaited before the next step), and nothing
   * else is: after all the steps each table was reported exactly as many
   * times as it was committed to (one commit at a time: no two in one report).
   */
  it.each([1, 2, 3])(
    `zero missed updates, none reported for nothing: random steps, seed %i [${t.name}]`,
    async (seed) => {
      const next = random(seed);
      const rec = new Recorder();
      const tables = [broker.a, broker.b];
      const w = watchTables(
        broker,
        tables.map((name) => ({ name })),
        rec.listener,
      );
      const child = await childWriter(target);
      const outside = await outsideWriter(t, target);
      const own: Writer = { insert: (table, v) => broker.insert(table, v), close: async () => undefined };
      const writers: [string, Writer][] = [
        ['own', own],
        ['child', child],
        ['outside', outside],
      ];
      const commits = new Map(tables.map((name) => [name, 0]));
      const steps: string[] = [];
      try {
        await w.positioned;
        for (let i = 0; i < 30; i++) {
          const table = tables[Math.floor(next() * tables.length)]!;
          if (next() < 0.2) {
            steps.push(`rollback ${table}`);
            await expect(
              lastValueFrom(
                broker.transact(async (tx) => {
                  await tx.query(broker.insertSql(table), ['rolled back']);
                  throw new Error('rolled back');
                }),
              ),
            ).rejects.toThrow();
            continue;
          }
          const [who, writer] = writers[Math.floor(next() * writers.length)]!;
          steps.push(`${who} ${table}`);
          const heard = rec.next(table, `the report of step ${i} (${steps.join(', ')})`);
          await writer.insert(table, `${who} ${i}`);
          await heard;
          commits.set(table, commits.get(table)! + 1);
        }
        // One more commit, to c's neighbour b, after everything: any late or spurious report would be in by then.
        const last = rec.next(broker.b, 'the last report');
        await broker.insert(broker.b, 'last');
        await last;
        commits.set(broker.b, commits.get(broker.b)! + 1);
        expect(rec.resyncs).toBe(0);
        for (const table of tables) {
          expect({ table, reports: rec.changedNames.filter((n) => n === table).length }).toEqual({
            table,
            reports: commits.get(table),
          });
          expect(await broker.count(table)).toBe(commits.get(table));
        }
      } finally {
        await child.close();
        await outside.close();
        w.stop();
      }
    },
    120_000,
  );
});
