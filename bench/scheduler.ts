import { EMPTY, of, type ObservableInput } from 'rxjs';
import type { PriorityScheduler } from '../lib';
import { getGc, settledHeap } from './gc';
import { sasyncLib } from './sasync-lib';

/** A spread of niceness values over -20..20, not in order. */
export const mixedNiceness = (i: number): number => ((i * 17) % 41) - 20;

export interface SchedulerThroughput {
  readonly case: string;
  readonly tasks: number;
  readonly tasksPerSecond: number;
}

export interface SchedulerMemory {
  readonly tasks: number;
  readonly queuedBytes: number;
  readonly retainedAfterDrainBytes: number;
  readonly gc: string;
}

type Job = () => ObservableInput<number>;

interface Case {
  readonly name: string;
  readonly job: Job;
  /** Hold the one slot while submitting, so that every task waits in the heap. */
  readonly queued: boolean;
}

const CASES: Case[] = [
  { name: 'EMPTY, idle queue (each runs on subscribe)', job: () => EMPTY, queued: false },
  { name: 'of(1), queued behind a blocker', job: () => of(1), queued: true },
  { name: 'EMPTY, queued behind a blocker', job: () => EMPTY, queued: true },
  { name: 'Promise job, queued behind a blocker', job: () => Promise.resolve(1), queued: true },
];

/** Holds a scheduler's slot until `release()`. */
function block(scheduler: PriorityScheduler): () => void {
  let release!: () => void;
  scheduler.schedule(() => new Promise<void>((resolve) => (release = resolve))).subscribe();
  return () => release();
}

/** Submits `tasks` jobs with mixed niceness; resolves once drained, checking each ran once. */
async function runCase(c: Case, tasks: number): Promise<number> {
  const scheduler = new (sasyncLib().PriorityScheduler)(1);
  const release = c.queued ? block(scheduler) : undefined;
  let done = 0;
  const start = performance.now();
  for (let i = 0; i < tasks; i++) {
    scheduler.schedule(c.job, { niceness: mixedNiceness(i) }).subscribe({ complete: () => done++ });
  }
  release?.();
  await scheduler.drain();
  const seconds = (performance.now() - start) / 1000;
  if (done !== tasks) throw new Error(`${c.name}: ${done} of ${tasks} tasks completed`);
  return tasks / seconds;
}

/** Tasks per second through `new PriorityScheduler(1)`: the median of `rounds` runs per case. */
export async function benchSchedulerThroughput(tasks: number, rounds: number): Promise<SchedulerThroughput[]> {
  await runCase(CASES[0]!, Math.min(tasks, 20_000)); // warm-up
  const results: SchedulerThroughput[] = [];
  for (const c of CASES) {
    const runs: number[] = [];
    for (let r = 0; r < rounds; r++) runs.push(await runCase(c, tasks));
    runs.sort((a, b) => a - b);
    results.push({ case: c.name, tasks, tasksPerSecond: runs[runs.length >> 1]! });
  }
  return results;
}

/** heapUsed growth while `tasks` subscribed tasks wait behind a blocker, and what is left after they ran. */
export async function benchQueuedMemory(tasks: number): Promise<SchedulerMemory> {
  const { gc, how } = getGc();
  const before = settledHeap(gc);
  const scheduler = new (sasyncLib().PriorityScheduler)(1);
  const release = block(scheduler);
  for (let i = 0; i < tasks; i++) scheduler.schedule(() => EMPTY, { niceness: mixedNiceness(i) }).subscribe();
  const queued = settledHeap(gc);
  if (scheduler.queued !== tasks) throw new Error(`expected ${tasks} queued tasks, found ${scheduler.queued}`);
  release();
  await scheduler.drain();
  const after = settledHeap(gc);
  return { tasks, queuedBytes: queued - before, retainedAfterDrainBytes: after - before, gc: how };
}
