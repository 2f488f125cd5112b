import type { SharedDatabase } from '../broker/registry';
import type { DialectReplication } from '../dialect/replicas';
import { DatabaseError } from '../errors';

/**
 * Where the primary's WAL stood after the latest commit made through its
 * DataSource in this process (any broker or store on it): what a read must
 * find replayed on a replica to see every write committed before it began.
 * Known without a round trip (see DialectReplication.trackCommits): a read
 * waits only for positions still on their way back, which come in the
 * same round trip as their COMMIT.
 */
export class CommitPositions {
  readonly #db: SharedDatabase;
  readonly #replication: DialectReplication;
  readonly #stop: () => void;
  #last = 0n;
  /** Positions of commits sent whose answer is not here yet. */
  readonly #pending = new Set<Promise<void>>();
  /** A commit's position could not be read: reads go to the primary until the primary's current one is. */
  #unknown = false;
  #recovering: Promise<void> | undefined;
  #losses = 0;
  #refs = 0;

  constructor(db: SharedDatabase, replication: DialectReplication) {
    this.#db = db;
    this.#replication = replication;
    this.#stop = replication.trackCommits(db.dataSource, (position) => this.#add(position));
  }

  /**
   * The position a read must find replayed, `after` (a token) included:
   * synchronous when no commit's position is on its way; undefined when a
   * commit's position is unknown (its answer was lost): the read then runs
   * on the primary.
   */
  required(after: bigint | undefined): bigint | undefined | Promise<bigint | undefined> {
    if (this.#pending.size > 0) return Promise.all([...this.#pending]).then(() => this.required(after));
    if (this.#unknown) {
      void this.#recover();
      return undefined;
    }
    return after !== undefined && after > this.#last ? after : this.#last;
  }

  /**
   * The latest commit's position once every commit sent has its own (see required).
   * @throws DatabaseError when a commit's position is unknown and the primary cannot be asked for its own.
   */
  async settled(): Promise<bigint> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
    if (this.#unknown) await this.#recover();
    if (this.#unknown) {
      throw new DatabaseError(
        `the WAL position of a commit on ${this.#db.label} was lost with its connection, and the primary cannot be ` +
          'asked for its own now: try again once it answers',
        { target: this.#db.label },
      );
    }
    return this.#last;
  }

  #add(position: Promise<bigint>): void {
    const done: Promise<void> = position
      .then(
        (p) => this.#raise(p),
        () => this.#lose(),
      )
      .finally(() => this.#pending.delete(done));
    this.#pending.add(done);
  }

  #raise(position: bigint): void {
    if (position > this.#last) this.#last = position;
  }

  /**
   * A commit whose position never came (the connection died after COMMIT):
   * the primary's position now is past it. Until that is read, reads run on
   * the primary (and each one asks again, one question at a time).
   */
  #lose(): void {
    this.#unknown = true;
    this.#losses++;
    void this.#recover();
  }

  #recover(): Promise<void> {
    // A loss after the question was asked may be past its answer: asked again then.
    const losses = this.#losses;
    this.#recovering ??= this.#replication
      .currentPosition(this.#db.dataSource)
      .then(
        (p) => {
          this.#raise(p);
          if (this.#losses === losses) this.#unknown = false;
        },
        () => undefined,
      )
      .finally(() => (this.#recovering = undefined));
    return this.#recovering;
  }

  /** @internal */
  addRef(): this {
    this.#refs++;
    return this;
  }

  /** Drops one router's share; the last stops tracking. */
  release(): void {
    if (--this.#refs > 0) return;
    if (trackers.get(this.#db) === this) trackers.delete(this.#db);
    this.#stop();
  }
}

const trackers = new Map<SharedDatabase, CommitPositions>();

/** The commit positions of a primary's (open) DataSource, tracked from now on if they were not. */
export function acquirePositions(db: SharedDatabase, replication: DialectReplication): CommitPositions {
  let tracker = trackers.get(db);
  if (!tracker) {
    tracker = new CommitPositions(db, replication);
    trackers.set(db, tracker);
  }
  return tracker.addRef();
}
