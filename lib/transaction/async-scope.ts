import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What sasync keeps in the async context: one small frame per scope, in
 * ONE AsyncLocalStorage, switched on only while sasync work is in flight.
 *
 * Why: on Node 20, while any AsyncLocalStorage is enabled, Node runs a
 * promise hook for every promise the process makes, sasync's or not, and
 * each enabled storage adds a call to it. Once on, a storage stays on for
 * good. So sasync keeps a single storage (the transaction, the slot held,
 * the run() and the start-up around the caller are elements of one frame),
 * counts what is in flight (a scope's function until its Promise settles,
 * a scope entered from here until it ends) and disables the storage when
 * the count falls to zero: a program that uses sasync pays no hook on its
 * own promises while no sasync work runs. What may remain is V8's: once a
 * promise hook was ever set, V8 seems to keep some promise fast paths off
 * for good (its promise-hook protector is not restored), whoever set it;
 * an await-heavy loop runs about as fast after sasync's work as after any
 * AsyncLocalStorage used once (bench/async-tax.ts, `hooked-once`).
 *
 * What disabling gives up: a Promise made while the storage is off carries
 * no scope, and while it is off every lookup answers "none". Work that is
 * still running is counted (a transaction's work until its own Promise
 * settles, even after the transaction was cancelled), so it always finds
 * its scope. Only callbacks a scope's function left behind without
 * awaiting them (a timer, an un-awaited promise), running after every
 * sasync scope has ended, are then seen as outside any scope.
 */
const storage = new AsyncLocalStorage<Frame>();

/**
 * The scopes around the caller, one element per {@link ScopeVar} (by its
 * index). An array, copied when a scope is entered: copying a few elements
 * is cheaper than spreading an object keyed by symbols (which V8 keeps as a
 * dictionary), and every transaction enters one or two scopes.
 */
type Frame = readonly unknown[];

/** How many ScopeVars there are: the next one's index. */
let vars = 0;

/**
 * Whether the storage runs on async hooks (Node 20, and later Node without
 * AsyncContextFrame), which is what disabling it is for: Node's hook-based
 * AsyncLocalStorage has an own `enabled` field. With AsyncContextFrame
 * there is no hook to turn off, and disable() would clear the value in
 * whatever context is current: it is never called there.
 */
const hooked = Object.hasOwn(storage, 'enabled');

let inFlight = 0;

/** Counts one scope in flight; the function returned (idempotent) ends it. */
function hold(): () => void {
  inFlight++;
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    if (--inFlight === 0 && hooked) storage.disable();
  };
}

/**
 * One thing sasync knows about the caller's async context (its transaction,
 * the slot it holds, its run(), its start-up): an element of the one frame.
 */
export class ScopeVar<T> {
  readonly #index = vars++;

  /** @param name for debugging only. */
  constructor(readonly name: string) {}

  /** The value around the caller, if any (none while no sasync work is in flight). */
  get(): T | undefined {
    return storage.getStore()?.[this.#index] as T | undefined;
  }

  /**
   * Runs `fn` with `value` as this variable's value, keeping the storage on
   * until the Promise `fn` returns settles (or `fn` throws). The Promise is
   * returned as it is: no extra tick.
   */
  run<R>(value: T, fn: () => Promise<R>): Promise<R> {
    const end = hold();
    let result: Promise<R>;
    try {
      result = storage.run(this.#with(value), fn);
    } catch (err) {
      end();
      throw err;
    }
    result.then(end, end);
    return result;
  }

  /**
   * Makes `value` this variable's value in the caller's async context from
   * here on (AsyncLocalStorage.enterWith), for a scope that cannot be
   * entered with {@link run}. The storage stays on until the function
   * returned is called.
   */
  enter(value: T): () => void {
    const end = hold();
    storage.enterWith(this.#with(value));
    return end;
  }

  #with(value: T): Frame {
    const frame = storage.getStore();
    const next = frame ? frame.slice() : [];
    next[this.#index] = value;
    return next;
  }
}

/** Whether sasync's storage is on now (for specs and the bench: it is off while no sasync work is in flight). */
export function scopesActive(): boolean {
  return inFlight > 0;
}

/**
 * Calls `fn` outside every sasync scope (no transaction, slot or run()
 * around it), whatever the caller's: for work that belongs to nobody's
 * transaction, such as a live query's re-run started from a callback that
 * happened to run in some transaction's context.
 */
export function outsideScopes<R>(fn: () => R): R {
  return storage.getStore() === undefined ? fn() : storage.exit(fn);
}
