import { BrokerClosedError, DatabaseError, SasyncError } from '../errors';
import type { StreamGate } from '../rows/open-stream';
import { ScopeVar } from '../transaction/async-scope';
import { currentRun } from '../transaction/slot';
import type { Intake } from '../transaction/submit';
import type { SharedDatabase } from './registry';
import { Retrying } from './retrying';

/** The lifecycle whose start-up (the broker's startup() and first()) runs around the caller. */
const starting = new ScopeVar<Lifecycle>('sasync.startup');

/**
 * A broker's life: start-up (the database opened, then its startup() and
 * first()), running, shutdown. It decides whether work is taken now, after
 * the start-up, or refused once shut down; counts the work in flight so
 * that drain() and shutdown() can wait for it; and closes the row streams
 * still open at shutdown. A failed start-up is tried again (see Retrying).
 */
export class Lifecycle implements Intake, StreamGate {
  readonly #db: SharedDatabase;
  readonly #name: string;
  readonly #started: Retrying;
  #running = false;
  #closing = false;
  #inflight = 0;
  #idle: (() => void)[] = [];
  #shutdown: Promise<void> | undefined;
  readonly #streams = new Set<(error: Error) => void>();
  readonly #lives = new Set<() => void>();
  readonly #unwatchOwner: () => void;

  /**
   * Starts at once, after the caller's synchronous code (so that a broker
   * subclass's fields exist when `startUp`, its startup() and first(), runs).
   */
  constructor(db: SharedDatabase, name: string, startUp: () => Promise<void>) {
    this.#db = db;
    this.#name = name;
    this.#started = new Retrying(() => this.#start(startUp));
    // An app's DataSource destroyed by its owner: its connections are going, and so are the streams on them.
    this.#unwatchOwner = db.onDestroyedByOwner((error) => this.#closeStreams(error));
  }

  /** True once started, until shutdown begins. */
  get running(): boolean {
    return this.#running && !this.#closing;
  }

  /** Whether the caller is this broker's start-up: its work goes ahead of the start-up it is part of. */
  get inStartUp(): boolean {
    return starting.get() === this;
  }

  /** See AccessBroker.waitUntilRunning: after a failure, waits out the backoff and tries again. */
  waitUntilRunning(): Promise<void> {
    return this.#closing ? this.#started.current : this.#started.ensureWaiting();
  }

  /**
   * Resolves when `what` (a table() call) may go ahead: inside the start-up
   * once the database is open, elsewhere once started. @throws
   * BrokerClosedError once shut down (the start-up's own calls aside), and
   * DatabaseError once the owner of an app's DataSource destroyed it.
   */
  async ready(what: string): Promise<void> {
    this.#checkNotDestroyed();
    const startUp = this.inStartUp;
    if (this.#closing && !startUp) throw new BrokerClosedError(this.#name, what);
    // Outside start-up, after it, like any other call: a failed start-up is tried again first.
    await (startUp ? this.#db.ready : this.#whenStarted());
  }

  take(internal: boolean): Promise<void> | undefined {
    this.#checkNotDestroyed();
    const startUpWork = internal || this.inStartUp;
    if (this.#closing && !startUpWork && !this.#insideOwnRun()) throw new BrokerClosedError(this.#name);
    this.#inflight++;
    return startUpWork || this.#running ? undefined : this.#whenStarted();
  }

  started(): void {
    this.#inflight++;
  }

  settled(): void {
    if (--this.#inflight === 0) this.#idle.splice(0).forEach((resolve) => resolve());
  }

  async admitStream(): Promise<void> {
    this.checkStillOpen();
    if (!this.#running && !this.inStartUp) await this.#whenStarted();
  }

  checkStillOpen(): void {
    this.#checkNotDestroyed();
    if (this.#closing && !this.inStartUp && !this.#insideOwnRun()) {
      throw new BrokerClosedError(this.#name, 'a row stream');
    }
  }

  trackStream(close: (error: Error) => void): () => void {
    this.#streams.add(close);
    return () => this.#streams.delete(close);
  }

  /** Tracks a live query so that shutdown completes it first (it queues no more re-runs); returns the untracking. */
  trackLive(complete: () => void): () => void {
    this.#lives.add(complete);
    return () => this.#lives.delete(complete);
  }

  /** Whether shutdown has begun (a live query subscribed now completes at once). */
  get closing(): boolean {
    return this.#closing;
  }

  /** Resolves when the work taken has finished, including the rollback of work that was cancelled. */
  async drain(): Promise<void> {
    await this.#started.current.catch(() => undefined);
    while (this.#inflight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
  }

  /**
   * Stops taking work, waits for the work taken, closes the streams still
   * open (their consumers get BrokerClosedError), then gives up the broker's
   * share of the database. Once; later calls return the same Promise.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#close();
    return this.#shutdown;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    // Live queries end first: a change meanwhile would queue a re-run that shutdown refuses.
    for (const complete of [...this.#lives]) complete();
    await this.drain();
    this.#running = false;
    // Reads lose nothing: a stream still open now is closed, its consumer told why.
    this.#closeStreams(new BrokerClosedError(this.#name, 'its row streams'));
    this.#unwatchOwner();
    await this.#db.release();
  }

  #closeStreams(error: Error): void {
    for (const close of [...this.#streams]) close(error);
  }

  /** @throws DatabaseError once the owner of an app's DataSource destroyed it under this broker. */
  #checkNotDestroyed(): void {
    const destroyed = this.#db.destroyedByOwner;
    if (destroyed) throw destroyed;
  }

  /**
   * Resolves once started. After a failed start-up (the database was down,
   * locked or missing) the next call past the backoff tries again and waits
   * for it; calls before that fail at once with the last error. Once shut
   * down, nothing is tried again.
   */
  #whenStarted(): Promise<void> {
    return this.#closing ? this.#started.current : this.#started.ensure();
  }

  async #start(startUp: () => Promise<void>): Promise<void> {
    await this.#db.open();
    try {
      // Work that startup() and first() submit is part of start-up: it must
      // not wait for the start-up to finish, or neither ever would.
      await starting.run(this, startUp);
    } catch (cause) {
      if (cause instanceof SasyncError) throw cause;
      throw new DatabaseError(
        `${this.#name} could not start: ${cause instanceof Error ? cause.message : String(cause)}. ` +
          'Fix its startup() or first(); the next call tries the start-up again',
        { cause, target: this.#db.label },
      );
    }
    this.#running = true;
  }

  /** Whether the caller is the function of a run() this broker took (it may submit work while shutdown() waits for it). */
  #insideOwnRun(): boolean {
    return currentRun(this.#db)?.owner === this;
  }
}
