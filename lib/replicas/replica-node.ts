import type { SharedDatabase } from '../broker/registry';
import { clock } from '../clock';
import type { DialectReplication, ReplicaProbe } from '../dialect/replicas';
import { DatabaseError } from '../errors';

/** The first pause before a replica that failed is checked again; it doubles up to MAX_BACKOFF. */
const FIRST_BACKOFF = 100;
const MAX_BACKOFF = 5000;

/**
 * One replica as every broker in the process sees it (shared, like its
 * SharedDatabase): whether it is in the rotation, how far it has replayed
 * (as last read: replay only moves on, so reads there see at least that),
 * and how many reads run on it now. A replica that fails (connection lost,
 * not in recovery any more) or lags beyond the bound leaves the rotation and
 * is checked again after a backoff on `clock`; it comes back once a check
 * finds it in recovery and answering.
 */
export class ReplicaNode {
  readonly db: SharedDatabase;
  readonly #replication: DialectReplication;
  #probe: ReplicaProbe | undefined;
  /** The replay position last read; -1 while nothing is known. */
  replayed = -1n;
  /** Reads running on it now (least-loaded choice). */
  inflight = 0;
  #up = false;
  #failures = 0;
  #downUntil = 0;
  /** Why it is out of the rotation, for messages. */
  reason: string | undefined = 'not checked yet';
  #startedAt: string | undefined;
  #polling: Promise<void> | undefined;
  #checking: Promise<void> | undefined;
  /** Since when it has been behind a position a read needed. */
  #behindSince: number | undefined;
  #refs = 0;
  #closed = false;

  constructor(db: SharedDatabase, replication: DialectReplication) {
    this.db = db;
    this.#replication = replication;
  }

  /** In the rotation: reads may go to it. */
  get available(): boolean {
    return this.#up;
  }

  /**
   * At a broker's start-up: opens the replica's DataSource and checks it.
   * A replica that cannot be reached stays out of the rotation (reads go to
   * the primary) and is checked again later.
   * @throws DatabaseError for a server that is not in recovery: a primary given as a replica.
   */
  async start(): Promise<void> {
    try {
      await this.#check();
    } catch (err) {
      if (err instanceof NotAReplica) throw err.error;
    }
  }

  /**
   * Reads the replay position again (one round trip on the probe's own
   * session; concurrent callers share one). A failure takes the replica out
   * of the rotation.
   */
  poll(): Promise<void> {
    this.#polling ??= this.#read().finally(() => (this.#polling = undefined));
    return this.#polling;
  }

  /** A read failed on it for a connection reason: out of the rotation until a check finds it back. */
  fail(error: unknown): void {
    this.#down(error instanceof Error ? error.message : String(error));
  }

  /**
   * A read needed `required` and it has not replayed that yet: past
   * `maxLag` milliseconds behind, it leaves the rotation for a while.
   */
  behind(required: bigint, maxLag: number): void {
    if (this.replayed >= required) {
      this.#behindSince = undefined;
      return;
    }
    const now = clock.now();
    this.#behindSince ??= now;
    if (now - this.#behindSince > maxLag) {
      this.#down(`it lags: more than ${maxLag} ms behind a commit a read needed`);
    }
  }

  /** Out of the rotation and due for a check: checks it in the background. */
  revive(): void {
    if (this.#up || this.#closed || this.#checking || clock.now() < this.#downUntil) return;
    this.#checking = this.#check()
      .catch(() => undefined)
      .finally(() => (this.#checking = undefined));
  }

  async #check(): Promise<void> {
    try {
      await this.db.open();
    } catch (err) {
      // Checked again after the backoff, not at every read meanwhile.
      this.fail(err);
      throw err;
    }
    this.#probe ??= this.#replication.openProbe(this.db.dataSource);
    await this.poll();
    if (!this.#up) throw new Error(this.reason);
  }

  async #read(): Promise<void> {
    if (this.#closed) return;
    this.#probe ??= this.#replication.openProbe(this.db.dataSource);
    let state;
    try {
      state = await this.#probe.state();
    } catch (err) {
      this.fail(err);
      return;
    }
    if (!state.inRecovery) {
      const error = new DatabaseError(
        `${this.db.label} is not a replica: pg_is_in_recovery() is false there (a primary, or a replica ` +
          'promoted). List only streaming replicas (hot standbys) in replicas, and the primary as primary',
        { target: this.db.label },
      );
      this.#down(error.message);
      throw new NotAReplica(error);
    }
    // A restarted replica replays again from a checkpoint: what it had replayed may be gone for now.
    if (state.startedAt !== this.#startedAt) this.replayed = -1n;
    this.#startedAt = state.startedAt;
    const replayed = state.replayed ?? -1n;
    if (replayed > this.replayed) this.replayed = replayed;
    this.#up = true;
    this.#failures = 0;
    this.reason = undefined;
  }

  #down(reason: string): void {
    this.#up = false;
    this.reason = reason;
    this.replayed = -1n;
    this.#behindSince = undefined;
    this.#downUntil = clock.now() + Math.min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** this.#failures++);
  }

  /** @internal */
  addRef(): this {
    this.#refs++;
    return this;
  }

  /** Drops one router's share; the last closes the probe. */
  async release(): Promise<void> {
    if (--this.#refs > 0) return;
    if (nodes.get(this.db) === this) nodes.delete(this.db);
    this.#closed = true;
    this.#up = false;
    await this.#checking;
    await this.#probe?.close();
  }
}

/** The check found a primary: the start-up fails with `error`. */
class NotAReplica extends Error {
  constructor(readonly error: DatabaseError) {
    super(error.message);
  }
}

const nodes = new Map<SharedDatabase, ReplicaNode>();

/** The shared state of the replica whose database is `db`. */
export function acquireNode(db: SharedDatabase, replication: DialectReplication): ReplicaNode {
  let node = nodes.get(db);
  if (!node) {
    node = new ReplicaNode(db, replication);
    nodes.set(db, node);
  }
  return node.addRef();
}
