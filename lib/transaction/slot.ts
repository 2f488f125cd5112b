import type { CancelToken } from '../cancel';
import type { PriorityOptions } from '../scheduler/priority';
import { enqueueChecked, type PriorityScheduler } from '../scheduler/priority-scheduler';
import { ScopeVar } from './async-scope';

/**
 * Waits for a slot of `scheduler` and holds it until the returned function is
 * called. Aborting `token` while waiting leaves the queue at once, taking
 * nothing (a caller that gives up waiting must not leak a slot). `priority`
 * was checked by the caller.
 */
export function acquireSlot(
  scheduler: PriorityScheduler,
  priority: PriorityOptions,
  token?: CancelToken,
): Promise<() => void> {
  return new Promise((resolve, reject) => {
    if (token?.aborted) return reject(token.reason as Error);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    // Listening before queueing: a slot free now starts the job (and stops the listening) at once.
    const unlisten = token?.onAbort((reason) => {
      subscription.unsubscribe();
      reject(reason as Error);
    });
    const subscription = scheduler[enqueueChecked](
      () => {
        unlisten?.();
        resolve(release);
        return held;
      },
      priority,
      { next: NOTHING, complete: NOTHING, error: (err: unknown) => reject(err as Error) },
    );
  });
}

const NOTHING = (): void => undefined;

/**
 * A job holding a slot of a scheduler, inside any outer one the caller held:
 * what the job calls while it runs can tell (with {@link holdsSlot}) that it
 * must not wait for a slot itself, or it would wait for itself.
 */
export class SlotHolder {
  #held: boolean;
  readonly #outer: SlotHolder | undefined = holders.get();
  #leave: (() => void) | undefined;

  /** Made in the job's async context, so that it chains to the caller's holder. */
  constructor(
    readonly scheduler: PriorityScheduler,
    held = true,
  ) {
    this.#held = held;
  }

  /** The slot it waited for is now held. */
  take(): void {
    this.#held = true;
  }

  /** Runs `fn` (the job) as this holder, until its Promise settles. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    return holders.run(this, fn);
  }

  /** Makes this the holder of the caller's async context from here on (see {@link holdFromHere}). */
  enterHere(): this {
    this.#leave ??= holders.enter(this);
    return this;
  }

  /** The job has ended: work it left running no longer holds the slot. */
  end(): void {
    this.#held = false;
    this.#leave?.();
  }

  /** Whether this holder, or one it runs inside, holds a slot of `scheduler` now. */
  holds(scheduler: PriorityScheduler): boolean {
    return (this.#held && this.scheduler === scheduler) || (this.#outer?.holds(scheduler) ?? false);
  }
}

const holders = new ScopeVar<SlotHolder>('sasync.slot');

/** The holder of a synchronous call made with {@link callAsHolder}, while it runs. */
let calling: SlotHolder | undefined;

/**
 * Whether the caller is a job (or runs inside one) that holds a slot of
 * `scheduler` now; work a job left running after it ended does not.
 */
export function holdsSlot(scheduler: PriorityScheduler): boolean {
  return (calling?.holds(scheduler) ?? false) || (holders.get()?.holds(scheduler) ?? false);
}

/**
 * Calls `fn` (synchronous) as `holder`: what it asks of {@link holdsSlot}
 * meanwhile is answered for `holder`, without the async context. For a
 * job's own synchronous calls outside its work (taking its runner from a
 * DataSource whose outside calls wait for the queue), so that the async
 * context, and its promise hooks, are needed for the work only.
 */
export function callAsHolder<T>(holder: SlotHolder | undefined, fn: () => T): T {
  if (!holder) return fn();
  const before = calling;
  calling = holder;
  try {
    return fn();
  } finally {
    calling = before;
  }
}

/**
 * Marks the caller's async context, from here on, as holding a slot of
 * `scheduler` once {@link SlotHolder.take} is called: for a TypeORM call
 * from outside sasync's work that waits for the queue (sqlite), so that what
 * it calls while it holds the slot (TypeORM's transaction() running the
 * caller's function, a subscriber) does not wait for the slot it holds.
 * Unlike a job's, its context cannot be entered with run(): it is marked
 * where the call is made, for the rest of that call. Call
 * {@link SlotHolder.end} once the slot is given back, or if it never came.
 */
export function holdFromHere(scheduler: PriorityScheduler): SlotHolder {
  return new SlotHolder(scheduler, false).enterHere();
}

/**
 * A run() whose function runs around the caller: the database, the queue of
 * the run's own that what it submits goes to, and whose run it is. Work the
 * function left running after it ended is no longer inside it (`live`).
 */
export interface RunScope {
  readonly db: object;
  readonly queue: PriorityScheduler;
  readonly owner: object;
  live: boolean;
}

const runs = new ScopeVar<RunScope>('sasync.run');

/** Runs `fn` (a run()'s function) inside `scope`; the scope ends when its result settles. */
export function runInScope<T>(scope: RunScope, fn: () => Promise<T>): Promise<T> {
  return runs.run(scope, fn).finally(() => void (scope.live = false));
}

/** The live run() of `db` around the caller, if any. */
export function currentRun(db: object): RunScope | undefined {
  const scope = runs.get();
  return scope?.live && scope.db === db ? scope : undefined;
}
