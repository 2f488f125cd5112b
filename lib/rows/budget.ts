import type { CancelToken } from '../cancel';
import type { PriorityOptions } from '../scheduler/priority';
import { PriorityScheduler } from '../scheduler/priority-scheduler';
import { acquireSlot, currentRun } from '../transaction/slot';

/**
 * How many row streams may hold a connection of their own at once, so that
 * open streams never starve transactions. Where the dialect sets connections
 * apart for streams (postgres: a fifth of the pool; a sqlite file: its
 * readers), streams take turns on a queue of their own. Where it has none
 * (sqlite in memory has one connection), a stream waits for the transaction
 * slot and holds it while it is open; inside a run(), the slot of the run's
 * own queue (the run holds the shared slot: a stream waiting for that would
 * wait for itself). A stream inside a transaction reads on the transaction's
 * connection and takes nothing from the budget.
 */
export class StreamBudget {
  readonly #db: object;
  readonly #transactions: PriorityScheduler;
  readonly #own: PriorityScheduler | undefined;

  /** `slots` streams at once on connections of their own (0: none, they share `transactions`). */
  constructor(db: object, slots: number, transactions: PriorityScheduler) {
    this.#db = db;
    this.#transactions = transactions;
    this.#own = slots > 0 ? new PriorityScheduler(slots) : undefined;
  }

  /**
   * Waits, at `priority` (checked by the caller), for a stream's slot and
   * resolves with its release: the stream calls it once, when it closes or
   * fails to open. Aborting `token` while waiting leaves the queue at once,
   * taking nothing.
   */
  acquire(priority: PriorityOptions, token: CancelToken): Promise<() => void> {
    return acquireSlot(this.#own ?? this.sharedQueue()!, priority, token);
  }

  /**
   * Where streams have no connection of their own: the queue whose slot a
   * stream opened in the caller's context holds (the transactions', or the
   * run()'s own), so that what it runs meanwhile on the one connection can
   * say it holds that slot. Undefined where streams have connections apart.
   */
  sharedQueue(): PriorityScheduler | undefined {
    return this.#own ? undefined : (currentRun(this.#db)?.queue ?? this.#transactions);
  }

  /** Resolves when no stream holds or waits for a connection of its own. */
  drain(): Promise<void> {
    return this.#own?.drain() ?? Promise.resolve();
  }
}
