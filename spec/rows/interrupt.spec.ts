import { lastValueFrom } from 'rxjs';
import { CancelledError, TransactionError } from '../../lib';
import { withItems } from '../support/brokers';
import { busySessions, sqliteConnections, sqliteFile, until, withStreamItems } from '../support/streams';
import { fileAndPg, pgAvailable, postgres } from '../support/targets';

describe.each(fileAndPg)('abort during a long read [$name]', (t) => {
  const appName = `sasync-interrupt-${process.pid}`;

  it('interrupts the statement instead of waiting for it', () =>
    withStreamItems(t, appName, async (b) => {
      const slow =
        t.dialect === 'postgres'
          ? 'SELECT pg_sleep(20) AS s'
          : 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) SELECT count(*) AS s FROM c';
      const file = t.dialect === 'sqlite' ? sqliteFile(b) : undefined;
      const before = file === undefined ? 0 : sqliteConnections(file);
      const controller = new AbortController();
      const started = Date.now();
      const result = lastValueFrom(b.stream(slow, [], { signal: controller.signal })).catch((e: unknown) => e);
      // The read is under way: postgres runs the statement; sqlite opened the stream's reader connection.
      if (file === undefined) await until(async () => (await busySessions(b, appName)) > 0, 'the statement runs');
      else await until(() => sqliteConnections(file) > before, 'the reader connection is open');
      controller.abort(new Error('enough'));
      expect(await result).toBeInstanceOf(CancelledError);
      expect(Date.now() - started).toBeLessThan(8000);
      await b.drain();
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));
});

(pgAvailable ? describe : describe.skip)('a paused postgres stream whose backend dies [postgres]', () => {
  it('fails its next read instead of crashing the process', () =>
    withItems(postgres, async (b) => {
      await lastValueFrom(
        b.produceRows(
          (i: number) => `n${i}`,
          Array.from({ length: 50 }, (_, i) => i),
          b.itemsTable,
          'name',
        ),
      );
      const it = b
        .stream<{ pid: number }>(`SELECT pg_backend_pid() AS pid, name FROM ${b.itemsTable}`, [], { batchSize: 5 })
        [Symbol.asyncIterator]();
      const first = await it.next();
      const pid = (first.value as { pid: number }).pid;
      await lastValueFrom(b.query('SELECT pg_terminate_backend($1)', [pid]));
      const alive = async () =>
        (
          await lastValueFrom(
            b.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [pid]),
          )
        )[0]!.n;
      await until(async () => (await alive()) === 0, 'the backend is gone');
      const next = (async () => {
        for (;;) if ((await it.next()).done) return 'ended';
      })();
      await expect(next).rejects.toBeInstanceOf(TransactionError);
      await b.drain();
      await expect(lastValueFrom(b.query('SELECT 1 AS ok'))).resolves.toEqual([{ ok: 1 }]);
    }));
});
