import { attempt } from './attempt';

/** Marks a key deleted in a {@link WriteBatch}. */
export const DELETED = Symbol('deleted');

/** The writes one transaction carries: clear the group first if `cleared`, then each key's last write. */
export interface WriteBatch {
  readonly cleared: boolean;
  /** Key (as stored) → its encoded value, or DELETED. */
  readonly writes: ReadonlyMap<string, string | typeof DELETED>;
}

/**
 * Writes `take()` (called once, when the transaction starts: writes recorded
 * until then travel in it) and resolves when it is durable.
 */
export type BatchWriter = (take: () => WriteBatch) => Promise<void>;

/**
 * Called when a batch finally failed (after the writer's retries), before
 * the Promises of its writes reject: the store reads the batch's keys again
 * so that its memory shows what the table holds. Its own failure is ignored.
 */
export type FailedBatch = (batch: WriteBatch) => Promise<void>;

/**
 * Called when a batch has committed, while its keys still count as pending:
 * a read that started before this moment may not have seen the batch, so
 * the store marks its keys written now, and such a read cannot replace them.
 */
export type DurableBatch = (batch: WriteBatch) => void;

class Pending implements WriteBatch {
  cleared = false;
  readonly writes = new Map<string, string | typeof DELETED>();
  readonly done: Promise<void>;
  settle!: (error?: unknown) => void;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    // Writes are hot: a failure nobody awaits must not crash the process.
    this.done.catch(() => undefined);
  }

  get empty(): boolean {
    return !this.cleared && this.writes.size === 0;
  }
}

/**
 * Lazy, coalescing writes (sAsync's write tracker): writes are recorded at
 * once and carried by one transaction at a time; a burst of writes to one key
 * while a transaction waits or runs becomes one write of its last value. The
 * Promise each write returns resolves when a transaction carrying that value
 * (or a later one) has committed, and rejects if it failed.
 */
export class WriteQueue {
  #pending = new Pending();
  /** The batch a transaction has taken and is writing. */
  #writing: Pending | undefined;
  /** Batches that failed, until memory was read again and their writes rejected. */
  readonly #failing = new Set<Pending>();
  /** A transaction is queued or running. */
  #busy = false;

  constructor(
    private readonly writer: BatchWriter,
    private readonly failed: FailedBatch = async () => undefined,
    private readonly durable: DurableBatch = () => undefined,
  ) {}

  set(key: string, text: string): Promise<void> {
    return this.#record((batch) => batch.writes.set(key, text));
  }

  delete(key: string): Promise<void> {
    return this.#record((batch) => batch.writes.set(key, DELETED));
  }

  clear(): Promise<void> {
    return this.#record((batch) => {
      batch.writes.clear();
      batch.cleared = true;
    });
  }

  /** Whether a write of `key` (or a clear) is recorded but not yet durable. */
  pending(key: string): boolean {
    const has = (batch: Pending | undefined) => !!batch && (batch.cleared || batch.writes.has(key));
    return has(this.#pending) || has(this.#writing);
  }

  /** Resolves when every write recorded before the call is durable (sAsync's deferToWrites). */
  flush(): Promise<void> {
    // All: a failure of the batch in flight must not be hidden by a later one's success.
    const waits = [
      ...[...this.#failing].map((batch) => batch.done),
      this.#writing?.done,
      this.#pending.empty ? undefined : this.#pending.done,
    ];
    const flushed = Promise.all(waits).then(() => undefined);
    flushed.catch(() => undefined);
    return flushed;
  }

  #record(change: (batch: Pending) => void): Promise<void> {
    const batch = this.#pending;
    change(batch);
    if (!this.#busy) this.#start();
    return batch.done;
  }

  #start(): void {
    this.#busy = true;
    let taken: Pending | undefined;
    // Taken when the transaction starts, not when it is queued: writes
    // recorded while it waited for its turn travel in it too.
    const take = () => {
      if (!taken) {
        taken = this.#pending;
        this.#pending = new Pending();
        this.#writing = taken;
      }
      return taken;
    };
    this.writer(take).then(
      () => this.#finish(take()),
      // Failed before it took anything (the broker closed, say): what it
      // would have carried fails with it rather than wait forever.
      (error: unknown) => this.#finish(take(), error),
    );
  }

  #finish(batch: Pending, error?: unknown): void {
    if (error === undefined) this.durable(batch);
    this.#writing = undefined;
    this.#busy = false;
    if (error === undefined) batch.settle();
    else this.#fail(batch, error);
    if (!this.#pending.empty) this.#start();
  }

  /**
   * Its writes no longer count as pending (so the reread takes what the
   * table holds, except for keys written again since), and reject once
   * memory was read again.
   */
  #fail(batch: Pending, error: unknown): void {
    this.#failing.add(batch);
    void attempt(() => this.failed(batch))
      .catch(() => undefined)
      .then(() => {
        this.#failing.delete(batch);
        batch.settle(error);
      });
  }
}
