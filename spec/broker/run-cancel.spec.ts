import { lastValueFrom } from 'rxjs';
import { CancelledError, TimeoutError } from '../../lib';
import { latch, withItems } from '../support/brokers';
import { allTargets } from '../support/targets';

describe.each(allTargets)('run() cancelled while its function runs [$name]', (t) => {
  it(`errors at its timeout, though the function runs on to its end [${t.name}]`, () =>
    withItems(t, async (b) => {
      const release = latch();
      let finished = false;
      const ran = lastValueFrom(
        b.run(
          async () => {
            await release.promise;
            finished = true;
            return 'late';
          },
          { timeout: 100 },
        ),
      );
      // Heard at the deadline, while the function still waits: nothing else settles it.
      const error = await ran.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toMatch(/timed out after 100 ms.*cannot be stopped/s);
      expect(finished).toBe(false);
      release.resolve();
      await b.drain();
      expect(finished).toBe(true);
    }));

  it(`errors when its signal aborts, and the broker goes on [${t.name}]`, () =>
    withItems(t, async (b) => {
      const controller = new AbortController();
      const started = latch();
      const release = latch();
      const ran = lastValueFrom(
        b.run(
          async () => {
            started.resolve();
            await release.promise;
            return 'late';
          },
          { signal: controller.signal },
        ),
      ).catch((e: unknown) => e);
      await started.promise;
      controller.abort(new Error('the caller gave up'));
      const error = await ran;
      expect(error).toBeInstanceOf(CancelledError);
      expect(error).not.toBeInstanceOf(TimeoutError);
      expect((error as Error).message).toMatch(/the caller gave up/);
      release.resolve();
      await lastValueFrom(b.query(b.insertSql(), ['after']));
      expect(await b.names()).toEqual(['after']);
    }));

  it(`keeps its place in the queue until the function ends [${t.name}]`, () =>
    withItems(t, async (b) => {
      const release = latch();
      const order: string[] = [];
      const ran = lastValueFrom(
        b.run(
          async () => {
            await release.promise;
            order.push('run ended');
          },
          { timeout: 50 },
        ),
      ).catch(() => order.push('run timed out'));
      await ran;
      // On sqlite one job runs at a time: a transaction queued now waits for the function.
      const next = lastValueFrom(b.transact(async () => void order.push('next ran')));
      release.resolve();
      await next;
      if (t.dialect === 'sqlite') expect(order).toEqual(['run timed out', 'run ended', 'next ran']);
      else expect(order).toEqual(expect.arrayContaining(['run timed out', 'run ended', 'next ran']));
    }));
});

describe.each(allTargets)('run() taken before shutdown() [$name]', (t) => {
  it(`may submit the work it needs while shutdown() waits for it [${t.name}]`, () =>
    withItems(t, async (b) => {
      const started = latch();
      const gate = latch();
      const ran = lastValueFrom(
        b.run(async () => {
          started.resolve();
          await gate.promise;
          await lastValueFrom(b.query(b.insertSql(), ['from run']));
          const rows = await lastValueFrom(b.stream<{ name: string }>(`SELECT name FROM ${b.itemsTable}`).pipe());
          return rows.name;
        }),
      );
      await started.promise;
      const closed = b.shutdown();
      // Work from outside is refused at once meanwhile.
      await expect(lastValueFrom(b.query('SELECT 1'))).rejects.toThrow(/shut down/);
      gate.resolve();
      expect(await ran).toBe('from run');
      await closed;
    }));
});
