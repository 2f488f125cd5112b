import { Worker } from 'node:worker_threads';

/** Milliseconds on the monotonic clock (process.hrtime: the same clock in every thread of the process). */
export function preciseNow(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/**
 * The alarm's thread: sleeps in `Atomics.wait` (a futex: no CPU while it
 * waits, and a fractional-millisecond timeout) until the earliest time asked
 * for, then posts a tick. `seq` changes whenever that time does, waking it.
 */
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const seq = new Int32Array(workerData, 0, 1);
const due = new Float64Array(workerData, 8, 1);
const now = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6; };
for (;;) {
  const s = Atomics.load(seq, 0);
  const at = due[0];
  if (at === 0) { Atomics.wait(seq, 0, s); continue; }
  const left = at - now();
  if (left > 0) { Atomics.wait(seq, 0, s, left); continue; }
  due[0] = 0;
  parentPort.postMessage(0);
}
`;

/** Something the alarm wakes: it is called once per {@link PreciseAlarm.wake} request, at or after its time. */
export interface Sleeper {
  readonly wake: () => void;
}

/**
 * Wakes callers at a time given to a fraction of a millisecond. node's
 * setTimeout counts whole milliseconds and fires up to about a millisecond
 * late, which at a 1 ms delay would add a third to every round trip; this
 * keeps one thread asleep on a futex instead (no polling), which posts a
 * message to this thread when the earliest time asked for has come.
 */
export class PreciseAlarm {
  private readonly shared = new SharedArrayBuffer(16);
  private readonly seq = new Int32Array(this.shared, 0, 1);
  private readonly due = new Float64Array(this.shared, 8, 1);
  private readonly waiting = new Map<Sleeper, number>();
  private readonly thread: Worker;

  constructor() {
    this.thread = new Worker(THREAD, { eval: true, workerData: this.shared });
    this.thread.unref(); // the sockets keep the process alive, not the alarm
    this.thread.on('message', () => this.tick());
  }

  /** Calls `sleeper.wake()` once, at or after `at` (a {@link preciseNow} time); an earlier request stands. */
  wake(sleeper: Sleeper, at: number): void {
    const before = this.waiting.get(sleeper);
    if (before !== undefined && before <= at) return;
    this.waiting.set(sleeper, at);
    const current = this.due[0]!;
    if (current === 0 || at < current) this.setDue(at);
  }

  /** Forgets `sleeper`'s request. */
  cancel(sleeper: Sleeper): void {
    this.waiting.delete(sleeper);
  }

  /** Ends the alarm's thread. */
  async close(): Promise<void> {
    this.waiting.clear();
    await this.thread.terminate();
  }

  private setDue(at: number): void {
    this.due[0] = at;
    Atomics.add(this.seq, 0, 1);
    Atomics.notify(this.seq, 0);
  }

  private tick(): void {
    const now = preciseNow();
    let next = 0;
    for (const [sleeper, at] of this.waiting) {
      if (at <= now) {
        this.waiting.delete(sleeper);
        sleeper.wake();
      }
    }
    for (const at of this.waiting.values()) if (next === 0 || at < next) next = at;
    if (next !== 0) this.setDue(next);
  }
}
