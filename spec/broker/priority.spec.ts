import { lastValueFrom } from 'rxjs';
import { AccessBroker } from '../../lib';
import { latch } from '../support/brokers';
import { allTargets } from '../support/targets';

/**
 * Fills every transaction slot with work that waits. `releaseOne()` frees a
 * single slot, so queued work then runs strictly one after another through
 * it (with several free postgres slots, BEGINs on different connections
 * finish in any order and start order stops telling dispatch order);
 * `release()` frees the rest and waits for all of it.
 */
async function saturate(b: AccessBroker): Promise<{ releaseOne: () => void; release: () => Promise<void> }> {
  const first = latch();
  const rest = latch();
  const slots = b.dialect === 'postgres' ? 8 : 1;
  const done: Promise<unknown>[] = [];
  for (let i = 0; i < slots; i++) {
    const running = latch();
    const gate = i === 0 ? first.promise : rest.promise;
    const p = lastValueFrom(b.transact(async () => (running.resolve(), gate)));
    done.push(p);
    await running.promise;
  }
  return {
    releaseOne: () => first.resolve(),
    release: async () => {
      first.resolve();
      rest.resolve();
      await Promise.all(done);
    },
  };
}

describe.each(allTargets)('priority scheduling of transactions [$name]', (t) => {
  let b: AccessBroker;
  beforeAll(async () => {
    b = new AccessBroker(t.target());
    await b.waitUntilRunning();
  });
  afterAll(() => b.shutdown());

  it('starts niceness -20 work before niceness 20 work submitted at the same time, and completes all', async () => {
    const { release } = await saturate(b);
    const started: string[] = [];
    const all: Promise<unknown>[] = [];
    // Interleaved submissions: nice, urgent, nice, urgent, …
    for (let i = 0; i < 30; i++) {
      for (const niceness of [20, -20]) {
        const label = `${niceness}:${i}`;
        all.push(lastValueFrom(b.transact(async (tx) => (started.push(label), tx.query('SELECT 1')), { niceness })));
      }
    }
    await release();
    await Promise.all(all);
    expect(started).toHaveLength(60);
    // Nice work is not starved (a niceness-20 task is worth 17 urgent ones, so
    // urgent work submitted long after it sorts behind it), but urgent work
    // goes well ahead: most of it before the first nice task, and on average
    // far earlier.
    const firstNice = started.findIndex((l) => l.startsWith('20'));
    const urgentBeforeFirstNice = started.slice(0, firstNice).length;
    expect(urgentBeforeFirstNice).toBeGreaterThanOrEqual(12);
    const meanIndex = (prefix: string) =>
      started.reduce((sum, l, i) => sum + (l.split(':')[0] === prefix ? i : 0), 0) / 30;
    expect(meanIndex('-20') + 15).toBeLessThan(meanIndex('20'));
    if (t.dialect === 'sqlite') {
      // FIFO within one niceness (on postgres, 8 connections answer BEGIN in any order).
      const urgentOrder = started.filter((l) => l.startsWith('-20')).map((l) => Number(l.split(':')[1]));
      expect(urgentOrder).toEqual([...urgentOrder].sort((x, y) => x - y));
    }
  });

  it('runs doNext work before everything queued, and doLast after', async () => {
    const { releaseOne, release } = await saturate(b);
    const started: string[] = [];
    const submit = (label: string, options: object) =>
      lastValueFrom(b.transact(async (tx) => (started.push(label), tx.query('SELECT 1')), options));
    const all = [
      submit('last', { doLast: true }),
      submit('urgent', { niceness: -20 }),
      submit('normal', {}),
      submit('next', { doNext: true }),
    ];
    releaseOne();
    await Promise.all(all);
    await release();
    expect(started).toEqual(['next', 'urgent', 'normal', 'last']);
  });

  it('lets a transaction method be called with .with({ doNext: true }) to jump the queue', async () => {
    const method = b.transaction(async (_tx, label: string) => label, { niceness: 10 });
    const { releaseOne, release } = await saturate(b);
    const finished: string[] = [];
    const all = ['a', 'b', 'c'].map((l) => lastValueFrom(method(l)).then((v) => finished.push(v)));
    all.push(lastValueFrom(method.with({ doNext: true })('jump')).then((v) => finished.push(v)));
    releaseOne();
    await Promise.all(all);
    await release();
    expect(finished[0]).toBe('jump');
    expect(finished).toHaveLength(4);
  });
});
