import {
  concat,
  finalize,
  lastValueFrom,
  NEVER,
  observeOn,
  of,
  Subject,
  take,
  takeUntil,
  type Subscription,
} from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { PriorityScheduler } from '../../lib/scheduler/priority-scheduler';

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** Lets every pending promise callback run. */
/** A one-slot scheduler whose slot is held by a job that runs until `blocker` completes. */
function blockedScheduler(): { q: PriorityScheduler; blocker: Subject<void> } {
  const q = new PriorityScheduler(1);
  const blocker = new Subject<void>();
  q.schedule(() => blocker).subscribe();
  return { q, blocker };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

/** A promise and the functions that settle it. */
function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('PriorityScheduler (marbles)', () => {
  it('runs queued jobs one at a time in priority order: doNext, by niceness and serial, then doLast', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const q = new PriorityScheduler(1);
      const a = cold('-a|');
      const b = cold('b|');
      const c = cold('c|');
      const d = cold('d|');
      const e = cold('e|');
      const f = cold('f|');
      const g = cold('g|');
      const h = cold('h|');
      // Subscribed in this order at frame 0. a takes the free slot; the rest wait.
      // Priorities: b 2·10=20, c 3·2=6, f 6·5=30, g 7·17=119, h 8·1=8.
      expectObservable(q.schedule(() => a)).toBe('-a|');
      expectObservable(q.schedule(() => b, { niceness: 10 })).toBe('-----b|');
      expectObservable(q.schedule(() => c, { niceness: -10 })).toBe('---c|');
      expectObservable(q.schedule(() => d, { doLast: true })).toBe('--------d|');
      expectObservable(q.schedule(() => e, { doNext: true })).toBe('--e|');
      expectObservable(q.schedule(() => f)).toBe('------f|');
      expectObservable(q.schedule(() => g, { niceness: 20 })).toBe('-------g|');
      expectObservable(q.schedule(() => h, { niceness: -20 })).toBe('----h|');
      expectSubscriptions(a.subscriptions).toBe('^-!');
      expectSubscriptions(e.subscriptions).toBe('--^!');
      expectSubscriptions(c.subscriptions).toBe('---^!');
      expectSubscriptions(h.subscriptions).toBe('----^!');
      expectSubscriptions(b.subscriptions).toBe('-----^!');
      expectSubscriptions(f.subscriptions).toBe('------^!');
      expectSubscriptions(g.subscriptions).toBe('-------^!');
      expectSubscriptions(d.subscriptions).toBe('--------^!');
    });
  });

  it('runs jobs of equal niceness first in, first out', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const q = new PriorityScheduler(1);
      expectObservable(q.schedule(() => cold('--a|'), { niceness: 7 })).toBe('--a|');
      expectObservable(q.schedule(() => cold('--b|'), { niceness: 7 })).toBe('-----b|');
      expectObservable(q.schedule(() => cold('--c|'), { niceness: 7 })).toBe('--------c|');
      expectObservable(q.schedule(() => cold('--d|'), { niceness: 7 })).toBe('-----------d|');
    });
  });

  it('runs doNext jobs first in, first out, and doLast jobs first in, first out', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const q = new PriorityScheduler(1);
      expectObservable(q.schedule(() => cold('-x|'))).toBe('-x|');
      expectObservable(q.schedule(() => cold('l|'), { doLast: true })).toBe('----l|');
      expectObservable(q.schedule(() => cold('n|'), { doNext: true })).toBe('--n|');
      expectObservable(q.schedule(() => cold('m|'), { doLast: true })).toBe('-----m|');
      expectObservable(q.schedule(() => cold('o|'), { doNext: true })).toBe('---o|');
    });
  });

  it('runs two jobs at once with concurrency 2, starting the next when a slot frees', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const q = new PriorityScheduler(2);
      const a = cold('--a|');
      const b = cold('-----b|');
      const c = cold('-c|');
      const d = cold('--d|');
      expectObservable(q.schedule(() => a)).toBe('--a|');
      expectObservable(q.schedule(() => b)).toBe('-----b|');
      expectObservable(q.schedule(() => c)).toBe('----c|');
      expectObservable(q.schedule(() => d)).toBe('-------d|');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('^-----!');
      expectSubscriptions(c.subscriptions).toBe('---^-!');
      expectSubscriptions(d.subscriptions).toBe('-----^--!');
    });
  });

  it('never subscribes a job whose task was unsubscribed while queued, and the next one moves up', () => {
    const q = new PriorityScheduler(1);
    let started = 0;
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const a = cold('---a|');
      const b = cold('b|');
      const c = cold('c|');
      expectObservable(q.schedule(() => a)).toBe('---a|');
      expectObservable(
        q.schedule(() => (started++, b), { niceness: -20 }),
        '^-!',
      ).toBe('');
      expectObservable(q.schedule(() => c)).toBe('----c|');
      expectSubscriptions(b.subscriptions).toBe([]);
      expectSubscriptions(c.subscriptions).toBe('----^!');
    });
    expect(started).toBe(0);
    expect(q.queued + q.running).toBe(0);
  });

  it('removes a queued task when takeUntil fires before its turn', () => {
    testScheduler().run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const q = new PriorityScheduler(1);
      const a = cold('--a|');
      const b = cold('b|');
      const c = cold('c|');
      const stop = hot('-s');
      expectObservable(q.schedule(() => a)).toBe('--a|');
      expectObservable(q.schedule(() => b).pipe(takeUntil(stop))).toBe('-|');
      expectObservable(q.schedule(() => c)).toBe('---c|');
      expectSubscriptions(b.subscriptions).toBe([]);
      expectSubscriptions(c.subscriptions).toBe('---^!');
    });
  });

  it('unsubscribes a running Observable job, aborts its signal and frees the slot at once', () => {
    let signal: AbortSignal | undefined;
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const q = new PriorityScheduler(1);
      const a = cold('-a----b|');
      const b = cold('-b|');
      expectObservable(
        q.schedule((s) => ((signal = s), a), { abortable: true }),
        '^--!',
      ).toBe('-a');
      expectObservable(q.schedule(() => b)).toBe('----b|');
      expectSubscriptions(a.subscriptions).toBe('^--!');
      expectSubscriptions(b.subscriptions).toBe('---^-!');
    });
    expect(signal?.aborted).toBe(true);
  });

  it('does not abort the signal of a job that completed normally', () => {
    let signal: AbortSignal | undefined;
    testScheduler().run(({ cold, expectObservable }) => {
      const q = new PriorityScheduler(1);
      expectObservable(q.schedule((s) => ((signal = s), cold('-a|')), { abortable: true })).toBe('-a|');
    });
    expect(signal?.aborted).toBe(false);
  });

  it('passes an error from an Observable job to its subscriber only; the queue goes on', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const q = new PriorityScheduler(1);
      expectObservable(q.schedule(() => cold('-#', undefined, new Error('boom')))).toBe(
        '-#',
        undefined,
        new Error('boom'),
      );
      expectObservable(q.schedule(() => cold('-b|'))).toBe('--b|');
    });
  });

  it('queues each subscription of the same cold task separately', () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const q = new PriorityScheduler(1);
      const job = cold('-x|');
      const task = q.schedule(() => job);
      expectObservable(task).toBe('-x|');
      expectObservable(task).toBe('---x|');
      expectSubscriptions(job.subscriptions).toBe(['^-!', '--^-!']);
    });
  });
});

describe('PriorityScheduler', () => {
  it('rejects a concurrency that is not a positive integer with RangeError', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity]) {
      expect(() => new PriorityScheduler(bad)).toThrow(RangeError);
      expect(() => new PriorityScheduler(bad)).toThrow(/concurrency must be an integer of at least 1/);
    }
    expect(new PriorityScheduler(3).concurrency).toBe(3);
  });

  it('throws RangeError from schedule() for bad priority options before anything is queued', () => {
    const q = new PriorityScheduler(1);
    let called = 0;
    expect(() => q.schedule(() => (called++, of(1)), { niceness: 21 })).toThrow(RangeError);
    expect(() => q.schedule(() => (called++, of(1)), { doNext: true, doLast: true })).toThrow(RangeError);
    expect(called).toBe(0);
    expect(q.queued).toBe(0);
  });

  it('is cold: nothing is queued or run until subscription', () => {
    const q = new PriorityScheduler(1);
    let called = 0;
    const task = q.schedule(() => (called++, of(1)));
    expect(called).toBe(0);
    expect(q.queued + q.running).toBe(0);
    const values: number[] = [];
    task.subscribe((v) => values.push(v));
    task.subscribe((v) => values.push(v));
    expect(called).toBe(2);
    expect(values).toEqual([1, 1]);
  });

  it('delivers the value of a Promise job and completes', async () => {
    const q = new PriorityScheduler(1);
    const values: string[] = [];
    let completed = false;
    q.schedule(async () => 'done').subscribe({ next: (v) => values.push(v), complete: () => (completed = true) });
    await q.drain();
    expect(values).toEqual(['done']);
    expect(completed).toBe(true);
  });

  it('keeps the slot of an unsubscribed Promise job until its promise settles, and aborts its signal', async () => {
    const q = new PriorityScheduler(1);
    const first = deferred<number>();
    let signal: AbortSignal | undefined;
    let secondStarted = false;
    const values: number[] = [];
    const sub = q
      .schedule(
        (s) => {
          signal = s;
          return first.promise;
        },
        { abortable: true },
      )
      .subscribe((v) => values.push(v));
    q.schedule(async () => {
      secondStarted = true;
    }).subscribe();
    expect(signal?.aborted).toBe(false);

    sub.unsubscribe();
    expect(signal?.aborted).toBe(true);
    await settle();
    expect(q.running).toBe(1);
    expect(q.queued).toBe(1);
    expect(secondStarted).toBe(false);

    first.resolve(42);
    await settle();
    expect(secondStarted).toBe(true);
    expect(values).toEqual([]); // the unsubscribed subscriber gets nothing
    await q.drain();
    expect(q.running).toBe(0);
  });

  it('keeps the slot of an unsubscribed Promise job until its promise rejects, too', async () => {
    const q = new PriorityScheduler(1);
    const first = deferred<number>();
    let secondStarted = false;
    const sub = q.schedule(() => first.promise).subscribe({ error: () => undefined });
    q.schedule(() => ((secondStarted = true), of(1))).subscribe();
    sub.unsubscribe();
    await settle();
    expect(secondStarted).toBe(false);
    first.reject(new Error('rolled back'));
    await settle();
    expect(secondStarted).toBe(true);
  });

  it('errors only the subscriber of a job that throws synchronously, and runs the next job', () => {
    const q = new PriorityScheduler(1);
    const boom = new Error('boom');
    const errors: unknown[] = [];
    const values: number[] = [];
    q.schedule<number>(() => {
      throw boom;
    }).subscribe({ error: (e: unknown) => errors.push(e) });
    q.schedule(() => of(2)).subscribe({ next: (v) => values.push(v), error: (e: unknown) => errors.push(e) });
    expect(errors).toEqual([boom]);
    expect(values).toEqual([2]);
    expect(q.running).toBe(0);
  });

  it('errors only the subscriber of a Promise job that rejects, and runs the next job', async () => {
    const q = new PriorityScheduler(1);
    const errors: unknown[] = [];
    const values: number[] = [];
    q.schedule(() => Promise.reject(new Error('nope'))).subscribe({ error: (e: unknown) => errors.push(e) });
    q.schedule(async () => 7).subscribe((v) => values.push(v));
    await q.drain();
    expect(errors).toEqual([new Error('nope')]);
    expect(values).toEqual([7]);
  });

  it('resolves drain() at once when idle', async () => {
    const q = new PriorityScheduler(2);
    let resolved = false;
    void q.drain().then(() => (resolved = true));
    await settle();
    expect(resolved).toBe(true);
  });

  it('resolves drain() only when queued and running work is done', async () => {
    const q = new PriorityScheduler(1);
    const running = new Subject<number>();
    const queued = new Subject<number>();
    q.schedule(() => running).subscribe();
    q.schedule(() => queued).subscribe();
    let drained = false;
    void q.drain().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);

    running.complete();
    await settle();
    expect(q.running).toBe(1);
    expect(drained).toBe(false);

    queued.next(1);
    await settle();
    expect(drained).toBe(false);

    queued.complete();
    await settle();
    expect(drained).toBe(true);
  });

  it('resolves drain() once queued and running tasks have been unsubscribed', async () => {
    const q = new PriorityScheduler(1);
    const blockerSub = q.schedule(() => new Subject<void>()).subscribe();
    const queuedSub = q.schedule(() => new Subject<void>()).subscribe();
    let drained = false;
    void q.drain().then(() => (drained = true));
    queuedSub.unsubscribe();
    await settle();
    expect(q.queued).toBe(0);
    expect(drained).toBe(false); // the blocker still runs
    blockerSub.unsubscribe();
    await settle();
    expect(drained).toBe(true);
    expect(q.queued + q.running).toBe(0);
  });

  it('runs 100,000 queued synchronous jobs without overflowing the stack', () => {
    const { q, blocker } = blockedScheduler();
    let done = 0;
    for (let i = 0; i < 100_000; i++) q.schedule(() => of(1)).subscribe({ complete: () => done++ });
    expect(q.queued).toBe(100_000);
    blocker.complete();
    expect(done).toBe(100_000);
    expect(q.queued + q.running).toBe(0);
  });

  it('runs 100,000 synchronous jobs submitted to an idle queue without overflowing the stack', () => {
    const q = new PriorityScheduler(1);
    let done = 0;
    for (let i = 0; i < 100_000; i++) q.schedule(() => of(1)).subscribe({ complete: () => done++ });
    expect(done).toBe(100_000);
  });

  it('runs all niceness -20 jobs before almost all earlier niceness-20 jobs, and completes all 50', () => {
    const { q, blocker } = blockedScheduler();
    const order: string[] = [];
    let completed = 0;
    for (let i = 0; i < 40; i++) {
      q.schedule(() => (order.push(`nice${i}`), of(i)), { niceness: 20 }).subscribe({ complete: () => completed++ });
    }
    for (let i = 0; i < 10; i++) {
      q.schedule(() => (order.push(`urgent${i}`), of(i)), { niceness: -20 }).subscribe({
        complete: () => completed++,
      });
    }
    expect(order).toEqual([]);
    blocker.complete();

    expect(completed).toBe(50);
    expect(order).toHaveLength(50);
    const lastUrgent = order.lastIndexOf('urgent9');
    const niceBeforeLastUrgent = order.slice(0, lastUrgent).filter((name) => name.startsWith('nice'));
    // Serials: nice 2..41 (priority 17·s ≥ 34), urgent 42..51 (priority = serial).
    // Only nice0 (17·2 = 34) and nice1 (17·3 = 51, tied with urgent9 but earlier) beat the last urgent job.
    expect(niceBeforeLastUrgent.length).toBeLessThanOrEqual(2);
    expect(order.indexOf('urgent0')).toBeLessThan(order.indexOf('nice2'));
    // Among themselves, each group is FIFO.
    const nice = order.filter((n) => n.startsWith('nice'));
    expect(nice).toEqual(Array.from({ length: 40 }, (_, i) => `nice${i}`));
    const urgent = order.filter((n) => n.startsWith('urgent'));
    expect(urgent).toEqual(Array.from({ length: 10 }, (_, i) => `urgent${i}`));
  });

  it('gives the slot back when take(1) cuts short a synchronous never-ending job submitted to an idle queue', () => {
    const q = new PriorityScheduler(1);
    let torndown = false;
    let secondRan = false;
    const values: number[] = [];
    q.schedule(() => concat(of(1), NEVER).pipe(finalize(() => (torndown = true))))
      .pipe(take(1))
      .subscribe((v) => values.push(v));
    q.schedule(() => ((secondRan = true), of(2))).subscribe();
    expect(values).toEqual([1]);
    expect(torndown).toBe(true);
    expect(secondRan).toBe(true);
    expect(q.running).toBe(0);
  });

  it('gives the slot back when a queued synchronous never-ending job is cut short by take(1) once it starts', () => {
    const { q, blocker } = blockedScheduler();
    let torndown = false;
    let secondRan = false;
    const values: number[] = [];
    q.schedule(() => concat(of(1), NEVER).pipe(finalize(() => (torndown = true))))
      .pipe(take(1))
      .subscribe((v) => values.push(v));
    q.schedule(() => ((secondRan = true), of(2))).subscribe();
    blocker.complete();
    expect(values).toEqual([1]);
    expect(torndown).toBe(true);
    expect(secondRan).toBe(true);
    expect(q.running).toBe(0);
  });
});

describe('PriorityScheduler.withNiceness (an RxJS SchedulerLike)', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('delivers every value in order through observeOn', async () => {
    const q = new PriorityScheduler(1);
    const values: number[] = [];
    let completed = false;
    of(1, 2, 3)
      .pipe(observeOn(q.withNiceness(5)))
      .subscribe({ next: (v) => values.push(v), complete: () => (completed = true) });
    await q.drain();
    expect(values).toEqual([1, 2, 3]);
    expect(completed).toBe(true);
  });

  it('delivers values behind more urgent work queued on the same scheduler', () => {
    const { q, blocker } = blockedScheduler();
    const log: string[] = [];
    of('v1', 'v2')
      .pipe(observeOn(q.withNiceness(20)))
      .subscribe((v) => log.push(v));
    q.schedule(() => (log.push('urgent'), of(0)), { niceness: -20 }).subscribe();
    expect(log).toEqual([]);
    blocker.complete();
    expect(log).toEqual(['urgent', 'v1', 'v2']);
  });

  it('runs a recursively rescheduled action once per schedule call', () => {
    const q = new PriorityScheduler(1);
    const scheduler = q.withNiceness(0);
    const states: number[] = [];
    scheduler.schedule(
      function (s) {
        states.push(s);
        if (s < 3) this.schedule(s + 1);
      },
      0,
      0,
    );
    expect(states).toEqual([0, 1, 2, 3]);
    expect(q.queued + q.running).toBe(0);
  });

  it('runs a delayed action after its delay', () => {
    jest.useFakeTimers();
    const q = new PriorityScheduler(1);
    let ran = 0;
    q.withNiceness(0).schedule(() => ran++, 10);
    jest.advanceTimersByTime(9);
    expect(ran).toBe(0);
    jest.advanceTimersByTime(1);
    expect(ran).toBe(1);
  });

  it('never runs a delayed action cancelled before its delay', () => {
    jest.useFakeTimers();
    const q = new PriorityScheduler(1);
    let ran = 0;
    const sub: Subscription = q.withNiceness(0).schedule(() => ran++, 10);
    jest.advanceTimersByTime(5);
    sub.unsubscribe();
    jest.advanceTimersByTime(100);
    expect(ran).toBe(0);
    expect(q.queued + q.running).toBe(0);
  });

  it('never runs an action cancelled while it waits in the queue', () => {
    const { q, blocker } = blockedScheduler();
    let ran = 0;
    const sub = q.withNiceness(0).schedule(() => ran++);
    expect(q.queued).toBe(1);
    sub.unsubscribe();
    expect(q.queued).toBe(0);
    blocker.complete();
    expect(ran).toBe(0);
  });

  it('reports the current time from now()', () => {
    jest.useFakeTimers({ now: new Date('2024-01-02T03:04:05Z') });
    const scheduler = new PriorityScheduler(1).withNiceness(0);
    expect(scheduler.now()).toBe(Date.parse('2024-01-02T03:04:05Z'));
  });

  it('throws RangeError for a niceness out of range', () => {
    const q = new PriorityScheduler(1);
    expect(() => q.withNiceness(21)).toThrow(RangeError);
    expect(() => q.withNiceness(-21)).toThrow(RangeError);
    expect(() => q.withNiceness(0.5)).toThrow(RangeError);
    expect(() => q.withNiceness(0, { doNext: true, doLast: true })).toThrow(RangeError);
  });

  it('accepts doNext with withNiceness, running before work of any niceness', () => {
    const { q, blocker } = blockedScheduler();
    const log: string[] = [];
    q.schedule(() => (log.push('urgent'), of(0)), { niceness: -20 }).subscribe();
    q.withNiceness(20, { doNext: true }).schedule(() => log.push('next'));
    blocker.complete();
    expect(log).toEqual(['next', 'urgent']);
  });
});

describe('PriorityScheduler job signals', () => {
  it('gives an AbortSignal to a job that asks for one with abortable: true, and none to others', async () => {
    const q = new PriorityScheduler(1);
    const seen: unknown[] = [];
    await lastValueFrom(q.schedule((signal: AbortSignal) => (seen.push(signal), of(1)), { abortable: true }));
    await lastValueFrom(q.schedule((...args: unknown[]) => (seen.push(args[0]), of(2))));
    await lastValueFrom(q.schedule((...args: unknown[]) => (seen.push(args[0]), of(3)), { niceness: 5 }));
    expect(seen[0]).toBeInstanceOf(AbortSignal);
    expect(seen[1]).toBeUndefined();
    expect(seen[2]).toBeUndefined();
  });

  it('does not type-check a job that declares a signal without asking for one', () => {
    const q = new PriorityScheduler(1);
    // @ts-expect-error the job takes a signal, but abortable: true is missing
    const unasked = () => q.schedule((signal: AbortSignal) => of(signal.aborted));
    // @ts-expect-error the same, with priority options
    const unaskedNice = () => q.schedule((signal: AbortSignal) => of(signal.aborted), { niceness: 1 });
    expect([unasked, unaskedNice]).toHaveLength(2);
  });
});
