import { lastValueFrom, toArray } from 'rxjs';
import { TransactionError } from '../../lib';
import { DIALECT_LIST, type Dialect } from '../../lib/dialect';
import { PIPELINE_DEPTH, produceRowsWork } from '../../lib/rows/produce-rows';
import { postgresAddress, startLatencyProxy, throughProxy } from '../../bench/latency-proxy';
import { withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, PG_URL, pgAvailable, postgres, uniqueName, type TestTarget } from '../support/targets';

/** The test target's dialect, its inserts counted: how many were sent and not answered yet, at most. */
function countingDialect(t: TestTarget) {
  const dialect = DIALECT_LIST.find((d) => d.name === t.dialect)!;
  const counts = { sent: 0, answered: 0, peak: 0 };
  const counted: Dialect = {
    ...dialect,
    insertRow: (...args) => {
      const answer = dialect.insertRow(...args);
      counts.sent++;
      counts.peak = Math.max(counts.peak, counts.sent - counts.answered);
      const settled = () => void counts.answered++;
      answer.then(settled, settled);
      return answer;
    },
  };
  return { dialect: counted, counts };
}

/** produceRows' work, run by the broker as its own transaction, with the dialect given. */
function produce(b: ItemsBroker, dialect: Dialect, f: (i: number) => string, count: number, table = b.itemsTable) {
  const values = Array.from({ length: count }, (_, i) => i);
  const work = produceRowsWork(dialect, { f, values, table, column: 'name', constants: {}, concurrency: 8 });
  return lastValueFrom(b.transact(work).pipe(toArray()));
}

describe.each(allTargets)('produceRows() inserts [$name]', (t) => {
  const pipelined = DIALECT_LIST.find((d) => d.name === t.dialect)!.capabilities.pipelinesStatements;

  it(`goes ${pipelined ? `${PIPELINE_DEPTH} inserts ahead of the answers` : 'one insert at a time'}, keys in input order`, () =>
    withItems(t, async (b) => {
      const { dialect, counts } = countingDialect(t);
      const keys = await produce(b, dialect, (i) => `row ${i}`, 200);
      expect(counts.sent).toBe(200);
      expect(counts.peak).toBe(pipelined ? PIPELINE_DEPTH : 1);
      const rows = await lastValueFrom(b.query<{ id: number; name: string }>(`SELECT id, name FROM ${b.itemsTable}`));
      const byId = new Map(rows.map((r) => [Number(r.id), r.name]));
      expect(keys.map((k) => byId.get(Number(k)))).toEqual(Array.from({ length: 200 }, (_, i) => `row ${i}`));
    }));

  it('fails with the failing insert’s own error, not one sent behind it, and commits nothing', () =>
    withItems(t, async (b) => {
      const table = uniqueName('tagged');
      await b.table(table, [{ name: 'name', type: 'string', length: 40 }], { unique: { by_name: ['name'] } });
      try {
        const { dialect, counts } = countingDialect(t);
        // Value 40 repeats value 3's name: its insert breaks the unique index.
        const error = await produce(b, dialect, (i) => (i === 40 ? 'tag 3' : `tag ${i}`), 100, table).catch(
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(TransactionError);
        const failure = error as TransactionError;
        if (t.dialect === 'postgres') {
          // Inserts behind it were on the wire and failed as 25P02 (in an aborted transaction).
          expect(counts.sent).toBeGreaterThan(41);
          expect(failure.code).toBe('23505');
          expect(failure.detail).toMatch(/tag 3/);
        } else {
          expect(counts.sent).toBe(41);
          expect(failure.code).toMatch(/^SQLITE_CONSTRAINT/);
        }
        expect(failure.sql).toMatch(/^insert into/i);
        expect(await lastValueFrom(b.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))).toEqual([
          { n: t.dialect === 'postgres' ? '0' : 0 },
        ]);
        // The broker keeps serving, on the same table.
        expect(await produce(b, dialect, (i) => `tag ${i}`, 50, table)).toHaveLength(50);
      } finally {
        await lastValueFrom(b.query(`DROP TABLE ${table}`));
      }
    }));
});

const describePg = pgAvailable ? describe : describe.skip;

describePg('produceRows() round trips [postgres]', () => {
  it('takes far fewer round trips than rows (one per insert before pipelining)', async () => {
    // The bench's latency proxy counts round trips (an answer after the client wrote something counts once);
    // 1 ms each way, so that inserts written together reach it long before any answer comes back.
    const proxy = await startLatencyProxy({ to: postgresAddress(PG_URL), delayMs: 1 });
    try {
      await withItems(
        postgres,
        async (b) => {
          const before = proxy.roundTrips();
          const keys = await produce(
            b,
            DIALECT_LIST.find((d) => d.name === 'postgres')!,
            (i) => `r${i}`,
            300,
          );
          const roundTrips = proxy.roundTrips() - before;
          expect(keys).toHaveLength(300);
          // 300 / 32 windows, plus the catalog check, BEGIN and COMMIT; refills may split a window.
          expect(roundTrips).toBeLessThan(60);
        },
        throughProxy(PG_URL, proxy),
      );
    } finally {
      await proxy.close();
    }
  });
});
