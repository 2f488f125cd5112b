import { config, lastValueFrom, toArray } from 'rxjs';
import sqlite3 from 'sqlite3';
import {
  AccessBroker,
  CancelledError,
  resolveTarget,
  TimeoutError,
  TransactionError,
  type TransactionEvent,
} from '../../lib';
import { expectPoolWhole, latch, withItems, type ItemsBroker } from '../support/brokers';
import { allTargets, fileAndPg } from '../support/targets';
import { useVirtualClock } from '../support/virtual-clock';

/** Every event the broker emits from now on. */
function record(b: AccessBroker) {
  const events: TransactionEvent[] = [];
  const subscription = b.events$.subscribe((e) => events.push(e));
  return {
    events,
    stop: () => subscription.unsubscribe(),
    /** The events of one run (by the id of its first event of `type` for `method`). */
    run(method: string): TransactionEvent[] {
      const first = events.find((e) => e.method === method);
      return first ? events.filter((e) => e.id === first.id) : [];
    },
  };
}

/** Fills every transaction slot until the returned function is called (8 on postgres, 1 on sqlite). */
async function holdSlots(b: ItemsBroker): Promise<() => Promise<void>> {
  const gate = latch();
  const held: Promise<unknown>[] = [];
  for (let i = 0; i < (b.dialect === 'postgres' ? 8 : 1); i++) {
    const running = latch();
    held.push(lastValueFrom(b.transact(async () => (running.resolve(), gate.promise), { name: 'holder' })));
    await running.promise;
  }
  return async () => {
    gate.resolve();
    await Promise.all(held);
  };
}

/** Resolves with the first event `b` emits that `match` accepts. */
function nextEvent(b: AccessBroker, match: (e: TransactionEvent) => boolean): Promise<TransactionEvent> {
  return new Promise((resolve) => {
    const subscription = b.events$.subscribe((e) => {
      if (!match(e)) return;
      subscription.unsubscribe();
      resolve(e);
    });
  });
}

describe.each(allTargets)('broker.events$ [$name]', (t) => {
  const clock = useVirtualClock();

  it('emits queued, started and committed with one id, the method, niceness, queue wait and run time', () =>
    withItems(t, async (b) => {
      const log = record(b);
      const order: string[] = [];
      b.events$.subscribe((e) => order.push(e.type));
      const inside = latch();
      const go = latch();
      const save = b.transaction(
        async (tx, name: string) => {
          await tx.query(b.insertSql(), [name]);
          inside.resolve();
          await go.promise;
          return name;
        },
        { niceness: 7, name: 'save' },
      );
      const saved = save('x').then((v) => (order.push('subscriber'), v));
      await inside.promise;
      await clock.current.advance(40);
      go.resolve();
      expect(await saved).toBe('x');
      const events = log.run('save');
      expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'committed']);
      // The outcome comes before the subscriber hears of it.
      expect(order).toEqual(['queued', 'started', 'committed', 'subscriber']);
      for (const e of events) {
        expect(e).toMatchObject({ broker: 'ItemsBroker', method: 'save', kind: 'transaction', niceness: 7 });
        expect(e).toMatchObject({ doNext: false, doLast: false });
      }
      expect(events[1]).toMatchObject({ queueWait: 0 });
      expect(events[2]).toMatchObject({ queueWait: 0, runTime: 40, attempts: 1, time: events[0]!.time + 40 });
      expectPoolWhole(b);
    }));

  it('counts the queue wait of work queued behind other work, and starts it in order of niceness', () =>
    withItems(t, async (b) => {
      const log = record(b);
      const release = await holdSlots(b);
      const queued = [
        b.transact(async () => 'nice', { niceness: 10, name: 'nice' }),
        b.transact(async () => 'urgent', { niceness: -10, name: 'urgent' }),
        b.transact(async () => 'plain', { name: 'plain' }),
        b.transact(async () => 'next', { doNext: true, niceness: 5, name: 'next' }),
      ].map((w) => lastValueFrom(w));
      await clock.current.advance(25);
      await release();
      expect(await Promise.all(queued)).toEqual(['nice', 'urgent', 'plain', 'next']);
      const started = log.events.filter((e) => e.type === 'started' && e.method !== 'holder');
      expect(started.map((e) => e.method)).toEqual(['next', 'urgent', 'plain', 'nice']);
      expect(started.map((e) => (e.type === 'started' ? e.queueWait : -1))).toEqual([25, 25, 25, 25]);
      expect(log.run('next')[0]).toMatchObject({ type: 'queued', niceness: 5, doNext: true });
      const holder = log.run('holder');
      expect(holder.at(-1)).toMatchObject({ type: 'committed', runTime: 25 });
    }));

  it('emits rolledBack with the error the subscriber got, and the broker serves on', () =>
    withItems(t, async (b) => {
      const log = record(b);
      const error = await b
        .transact(
          async (tx) => {
            await tx.query(b.insertSql(), ['doomed']);
            throw new Error('work failed');
          },
          { name: 'doomed' },
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error).toBeInstanceOf(TransactionError);
      const events = log.run('doomed');
      expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'rolledBack']);
      expect(events[2]).toMatchObject({ error, attempts: 1, runTime: 0 });
      expect(await b.names()).toEqual([]);
    }));

  it('emits cancelled with the TimeoutError of a timeout, while running and while queued', () =>
    withItems(t, async (b) => {
      const log = record(b);
      const started = nextEvent(b, (e) => e.type === 'started' && e.method === 'hangs');
      const hanging = b.transact(() => new Promise(() => undefined), { timeout: 100, name: 'hangs' });
      const failure = hanging.then(
        () => undefined,
        (e: unknown) => e,
      );
      await started;
      await clock.current.advance(100);
      const error = await failure;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(log.run('hangs').map((e) => e.type)).toEqual(['queued', 'started', 'cancelled']);
      expect(log.run('hangs')[2]).toMatchObject({ error, runTime: 100, attempts: 1 });

      const release = await holdSlots(b);
      const dropped = b
        .transact(async () => 'never', { timeout: 50, name: 'dropped' })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await clock.current.advance(50);
      const queuedError = await dropped;
      await release();
      expect(queuedError).toBeInstanceOf(TimeoutError);
      expect(log.run('dropped').map((e) => e.type)).toEqual(['queued', 'cancelled']);
      expect(log.run('dropped')[1]).toMatchObject({
        error: queuedError,
        queueWait: 50,
        runTime: undefined,
        attempts: 0,
      });
      await b.drain();
      expectPoolWhole(b);
    }));

  it('emits cancelled when the subscriber unsubscribes, and nothing after', () =>
    withItems(t, async (b) => {
      const log = record(b);
      const inserted = latch();
      const subscription = b
        .transact(
          async (tx) => {
            await tx.query(b.insertSql(), ['left']);
            inserted.resolve();
            await new Promise(() => undefined);
          },
          { name: 'left' },
        )
        .subscribe();
      await inserted.promise;
      subscription.unsubscribe();
      await b.drain();
      const events = log.run('left');
      expect(events.map((e) => e.type)).toEqual(['queued', 'started', 'cancelled']);
      const cancelled = events[2]!;
      expect(cancelled.type === 'cancelled' && cancelled.error).toBeInstanceOf(CancelledError);
      expect(cancelled.type === 'cancelled' && cancelled.error.message).toMatch(/left was cancelled: .*unsubscribed/);
      expect(await b.names()).toEqual([]);
      expectPoolWhole(b);
    }));

  it('tells statements and run() apart by method and kind, and gives joined work no events of its own', () =>
    withItems(t, async (b) => {
      const log = record(b);
      await b.query('SELECT 1 AS one');
      await b.prepare('one', 'SELECT 1 AS one').query();
      await b.run(async () => 'ran');
      await b.transact(async () => {
        await b.query(b.insertSql(), ['joined']);
        await b.transact(async () => 'joined too');
      });
      const queued = log.events.filter((e) => e.type === 'queued');
      expect(queued.map((e) => [e.method, e.kind])).toEqual([
        ['query', 'statement'],
        ['one', 'statement'],
        ['run', 'run'],
        ['transact', 'transaction'],
      ]);
      expect(log.events.filter((e) => e.type === 'committed')).toHaveLength(4);
    }));

  it('sends nothing to a subscriber that left, and completes when the broker shuts down', async () => {
    const b = new AccessBroker(t.target(), { name: 'Short' });
    const log = record(b);
    const all = lastValueFrom(b.events$.pipe(toArray()));
    await b.query('SELECT 1 AS one');
    expect(log.events.map((e) => e.type)).toEqual(['queued', 'started', 'committed']);
    expect(log.events[0]!.broker).toBe('Short');
    log.stop();
    await b.query('SELECT 2 AS two');
    expect(log.events).toHaveLength(3);
    await b.shutdown();
    expect(await all).toHaveLength(6);
  });

  it('keeps serving when a subscriber throws: the error goes to RxJS, the transaction commits', () =>
    withItems(t, async (b) => {
      const reported: unknown[] = [];
      const allReported = latch();
      const before = config.onUnhandledError;
      config.onUnhandledError = (err) => reported.push(err) === 3 && allReported.resolve();
      try {
        const throwing = b.events$.subscribe((e) => {
          throw new Error(`a subscriber failed on ${e.type}`);
        });
        const log = record(b);
        expect(await b.transact(async (tx) => (await tx.query(b.insertSql(), ['kept']), 'ok'))).toBe('ok');
        throwing.unsubscribe();
        // RxJS reports each throw on a later turn: queued, started, committed.
        await allReported.promise;
        expect(reported.map((e) => (e as Error).message)).toEqual(
          ['queued', 'started', 'committed'].map((type) => `a subscriber failed on ${type}`),
        );
        expect(log.events.map((e) => e.type)).toEqual(['queued', 'started', 'committed']);
        expect(await b.names()).toEqual(['kept']);
        await expect(b.query('SELECT 1 AS one')).resolves.toEqual([{ one: 1 }]);
      } finally {
        config.onUnhandledError = before;
      }
    }));
});

describe.each(fileAndPg)('broker.events$ of retries [$name]', (t) => {
  it('emits retried with the attempt and the error, keeping the id, then committed after the last attempt', async () => {
    const target = t.target();
    // sqlite: fail fast with SQLITE_BUSY while another connection holds the lock.
    const options = t.dialect === 'sqlite' ? { ...resolveTarget(target).options, busyTimeout: 1 } : target;
    const b = new AccessBroker(options as never);
    await b.waitUntilRunning();
    const log = record(b);
    let attempts = 0;
    let work: () => Promise<unknown>;
    let other: sqlite3.Database | undefined;
    if (t.dialect === 'sqlite') {
      const file = resolveTarget(target).options.database as string;
      await b.query('CREATE TABLE IF NOT EXISTS busy (n integer)');
      other = new sqlite3.Database(file);
      const db = other;
      await new Promise<void>((res, rej) => db.run('BEGIN IMMEDIATE', (e) => (e ? rej(e) : res())));
      // The other connection lets go once the first attempt has failed on its lock.
      b.events$.subscribe((e) => {
        if (e.type === 'retried' && e.attempt === 1) db.run('ROLLBACK');
      });
      work = () =>
        lastValueFrom(
          b.transact(async (tx) => (attempts++, tx.query('INSERT INTO busy (n) VALUES (1)')), {
            retry: 50,
            name: 'contended',
          }),
        );
    } else {
      work = () =>
        lastValueFrom(
          b.transact(
            async (tx) => {
              if (++attempts === 1)
                await tx.query(
                  `DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = 'serialization_failure'; END $$`,
                );
              return attempts;
            },
            { retry: 3, name: 'contended' },
          ),
        );
    }
    try {
      await work();
      const events = log.run('contended');
      const types = events.map((e) => e.type);
      expect(types.slice(0, 3)).toEqual(['queued', 'started', 'retried']);
      expect(types.at(-1)).toBe('committed');
      const retried = events.filter((e) => e.type === 'retried');
      expect(retried.length).toBe(attempts - 1);
      expect(retried.map((e) => (e.type === 'retried' ? e.attempt : 0))).toEqual(retried.map((_, i) => i + 1));
      expect(retried[0]).toMatchObject({
        error: expect.objectContaining({ code: t.dialect === 'sqlite' ? 'SQLITE_BUSY' : '40001' }),
      });
      expect(events.at(-1)).toMatchObject({ attempts });
      expect(new Set(events.map((e) => e.id)).size).toBe(1);
    } finally {
      if (other) await new Promise<void>((res) => other.close(() => res()));
      if (t.dialect === 'sqlite') await b.query('DROP TABLE IF EXISTS busy');
      await b.shutdown();
    }
  });
});
