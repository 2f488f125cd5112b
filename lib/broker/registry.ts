import type { CancelToken } from '../cancel';
import type { DataSource, DataSourceOptions } from 'typeorm';
import {
  dialectFor,
  newDataSource,
  shareInitialize,
  watchOwnerDestroy,
  type BusOptions,
  type ChangeBus,
  type Dialect,
} from '../dialect';
import { DatabaseError } from '../errors';
import { refuseMigrationsRun } from '../migrations/migration-options';
import { PriorityScheduler } from '../scheduler/priority-scheduler';
import type { ResolvedTarget } from '../target';
import type { TableInfo } from '../schema/table-spec';
import { Retrying } from './retrying';
import { acquireSlot, currentRun, holdFromHere, holdsSlot } from '../transaction/slot';
import { StreamBudget } from '../rows/budget';

/**
 * One DataSource and its queue, shared by every broker with the same target
 * (sAsync's queue Factory). It is opened by the first broker and destroyed
 * when the last one shuts down.
 *
 * An app's own DataSource (the target was one) is used as it is: initialized
 * here if it is not yet (tried again on the same object after a failure:
 * TypeORM allows initialize() again), never destroyed here. What sasync adds
 * to it (its sqlite connection's serialized mode and busy timeout, the
 * outside-call gate, the query hook on sqlite's shared runner, the postgres
 * pool's listeners, the watch on its destroy()) is taken back when the last
 * broker shuts down, and the change bus's own connection and the streams'
 * connections are closed: its owner's destroy() then finds it as it was.
 * Destroyed by its owner while brokers use it, new and queued work fails
 * with a DatabaseError saying so, and open row streams are closed with it.
 */
export class SharedDatabase {
  readonly dialect: Dialect;
  readonly scheduler: PriorityScheduler;
  /** How many row streams may hold a connection at once, and the queue they wait on. */
  readonly streams: StreamBudget;
  /**
   * The cancel tokens of transactions running now (see runOnce): the owner
   * destroying an app's DataSource cancels them, since TypeORM is about to
   * take their connections back (a transaction waiting for one would wait
   * for good: pg-pool leaves pending connects unanswered once it ends).
   */
  readonly running = new Set<CancelToken>();
  readonly label: string;
  /** Table creations under way, so that concurrent calls for one name share one. */
  readonly tables = new Map<string, { readonly info: TableInfo; readonly done: Promise<TableInfo> }>();
  readonly #options: DataSourceOptions;
  #dataSource: DataSource;
  /** Opening the DataSource: tried again (with a new DataSource) after a failure. */
  readonly #opening: Retrying;
  #refs = 0;
  #attempts = 0;
  #closed: Promise<void> | undefined;
  #bus: ChangeBus | undefined;
  /** The target was the app's own DataSource: sasync never destroys it, and takes back what it added. */
  readonly #adopted: boolean;
  /** What puts an app's DataSource back as it was, last added first undone. */
  #undo: (() => void | Promise<void>)[] = [];
  /** Set when the owner destroyed an app's DataSource while brokers used it. */
  #destroyedByOwner: DatabaseError | undefined;
  readonly #ownerDestroyWatchers = new Set<(error: DatabaseError) => void>();
  /** Takes back the shared initialize() of an app's DataSource that was not initialized. */
  #unshareInitialize: (() => void) | undefined;
  /** The close of the SharedDatabase that had this app's DataSource before, if it is still under way. */
  readonly #previous: Promise<void> | undefined;

  /**
   * @throws DatabaseError for an app's DataSource whose options sasync cannot
   *   work with; MigrationError for `migrationsRun` on one it will initialize.
   */
  constructor(
    readonly key: ResolvedTarget['key'],
    target: ResolvedTarget,
  ) {
    this.label = target.label;
    this.dialect = dialectFor(target.options);
    this.#adopted = target.dataSource !== undefined;
    this.#previous = leaving.get(key);
    // Before sasync's initialize(), in which TypeORM would run the migrations its own way.
    refuseMigrationsRun(target.options, target.dataSource?.isInitialized ?? false);
    if (target.dataSource) {
      this.dialect.checkDataSource(target.dataSource);
      this.#options = target.options;
      this.#dataSource = target.dataSource;
    } else {
      const options = this.dialect.dataSourceOptions(target.options);
      this.#options = { ...options, logging: options.logging ?? false } as DataSourceOptions;
      this.#dataSource = newDataSource(this.#options);
      owned.set(this.#dataSource, this);
    }
    this.scheduler = new PriorityScheduler(this.dialect.transactionSlots(this.#dataSource));
    this.streams = new StreamBudget(this, this.dialect.streamSlots(this.#dataSource), this.scheduler);
    // Its owner may call initialize() too while sasync's runs: one attempt for both.
    // Last: a constructor that throws leaves nothing on the app's DataSource.
    if (target.dataSource && !target.dataSource.isInitialized) {
      this.#unshareInitialize = shareInitialize(target.dataSource);
    }
    this.#opening = new Retrying(() => this.#open());
  }

  /**
   * Whether TypeORM calls from outside sasync's work wait for the queue here
   * (see Dialect.gateOutsideCalls): then jobs must say that they hold their slot.
   */
  get gatesOutsideCalls(): boolean {
    return this.dialect.capabilities.gatesOutsideCalls;
  }

  /** The DataSource: after a failed opening, the one of the latest attempt. */
  get dataSource(): DataSource {
    return this.#dataSource;
  }

  /**
   * The latest attempt to open the DataSource (it never starts another one).
   * Rejects with DatabaseError if that attempt failed.
   */
  get ready(): Promise<void> {
    return this.#opening.current;
  }

  /**
   * Resolves once the DataSource is open: if the last attempt failed (the
   * database was down, locked or missing), tries again (sasync's own
   * DataSource: with a new one; an app's: initialize() again on it). The
   * brokers' start-ups, which call this, pace the attempts. Rejects at once
   * once the owner destroyed an app's DataSource.
   */
  open(): Promise<void> {
    if (this.#destroyedByOwner) return Promise.reject(this.#destroyedByOwner);
    return this.#closed ? this.ready : this.#opening.ensure(true);
  }

  /**
   * The error for work on an app's DataSource that its owner destroyed
   * while brokers used it; undefined otherwise.
   */
  get destroyedByOwner(): DatabaseError | undefined {
    return this.#destroyedByOwner;
  }

  /**
   * Calls `fn` (once) if the owner destroys an app's DataSource while
   * brokers use it: a broker closes its open row streams with the error.
   * Returns what stops watching.
   */
  onDestroyedByOwner(fn: (error: DatabaseError) => void): () => void {
    this.#ownerDestroyWatchers.add(fn);
    return () => void this.#ownerDestroyWatchers.delete(fn);
  }

  async #open(): Promise<void> {
    // The last SharedDatabase on this app's DataSource may still be taking
    // back what it added: adding ours meanwhile, its undoing would take ours too.
    await this.#previous?.catch(() => undefined);
    // sasync's own DataSource whose initialize() failed is not tried again: a
    // new one is. An app's is the app's: TypeORM 0.3 lets initialize() run again.
    if (this.#attempts++ > 0 && !this.#adopted) owned.set((this.#dataSource = newDataSource(this.#options)), this);
    const ds = this.#dataSource;
    // An app's DataSource may be initialized already (by its owner): used as it is.
    if (!ds.isInitialized) {
      try {
        await ds.initialize();
      } catch (cause) {
        // Its owner's initialize(), begun before sasync's, got there first (TypeORM refuses a second one).
        if (this.#adopted && ds.isInitialized) return this.#prepare(ds);
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new DatabaseError(
          `cannot open ${this.label}: ${reason}. Check that the server is running and the target is right; ` +
            'the next call tries again',
          { cause, target: this.label },
        );
      }
    }
    return this.#prepare(ds);
  }

  /** Sets up the open DataSource for sasync, keeping what takes that back (for an app's DataSource). */
  async #prepare(ds: DataSource): Promise<void> {
    const undo: (() => void | Promise<void>)[] = [this.dialect.prepareConnection(ds, this.#adopted)];
    const ungate = this.dialect.gateOutsideCalls?.(ds, { claim: () => this.#claim() });
    if (ungate) undo.push(ungate);
    if (this.#adopted) {
      undo.push(await this.dialect.tuneDataSource(ds));
      undo.push(
        watchOwnerDestroy(ds, {
          destroying: () => this.#ownerDestroying(),
          refusal: () => this.#destroyedByOwner,
        }),
      );
    }
    this.#undo = undo;
  }

  /**
   * The owner is destroying an app's DataSource while brokers use it: new
   * and queued work is refused, open row streams are closed (a pooled
   * stream connection would keep pg-pool's end() waiting) and prepared
   * statements are finalized (sqlite does not close a connection that has
   * some), before TypeORM's destroy() goes on.
   */
  async #ownerDestroying(): Promise<void> {
    if (this.#closed || this.#destroyedByOwner) return;
    const error = new DatabaseError(
      `${this.label} was destroyed by its owner (dataSource.destroy()) while sasync's brokers or stores used it, ` +
        'so this work cannot run. Shut them down (await broker.shutdown()) before destroying the DataSource; ' +
        'to go on, shut them down and make new ones, on this DataSource initialized again or on a new one',
      { target: this.label },
    );
    this.#destroyedByOwner = error;
    for (const watcher of [...this.#ownerDestroyWatchers]) watcher(error);
    for (const token of [...this.running]) token.abort(error);
    await this.streams.drain();
    await this.dialect.releasePrepared(this.#dataSource);
  }

  /**
   * What an outside TypeORM call must wait for (see Dialect.gateOutsideCalls):
   * nothing if the caller holds the slot (sasync's own work); else the slot of
   * the queue that governs it: inside a run(), the run's own (the run holds
   * the shared slot, its transactions take turns on its queue); elsewhere the
   * shared one. Once taken, the caller's context is marked as holding it, so
   * that what it calls meanwhile (the function of a dataSource.transaction(),
   * a subscriber) does not wait for it again.
   */
  #claim(): (() => Promise<() => void>) | undefined {
    const queue = currentRun(this)?.queue ?? this.scheduler;
    if (holdsSlot(queue)) return undefined;
    return () => {
      const holder = holdFromHere(queue);
      return acquireSlot(queue, {}).then(
        (release) => {
          holder.take();
          return () => {
            holder.end();
            release();
          };
        },
        (err: unknown) => {
          holder.end();
          throw err;
        },
      );
    };
  }

  /** The change bus of this DataSource, opened by the first store that asks (with its options). */
  async bus(options: BusOptions): Promise<ChangeBus> {
    await this.open();
    this.#bus ??= this.dialect.openBus(this.dataSource, options);
    return this.#bus;
  }

  /**
   * Drops one broker's share; the last one drains the queue and closes the
   * DataSource (an app's: takes back what sasync added, and leaves it open).
   */
  release(): Promise<void> {
    if (--this.#refs > 0) return Promise.resolve();
    if (registry.get(this.key) === this) registry.delete(this.key);
    if (!this.#closed) {
      const closed = (this.#closed = this.#close());
      // A new SharedDatabase on the same app's DataSource waits for this one to take its additions back.
      if (this.#adopted) {
        leaving.set(this.key, closed);
        const forget = () => void (leaving.get(this.key) === closed && leaving.delete(this.key));
        closed.then(forget, forget);
      }
    }
    return this.#closed;
  }

  async #close(): Promise<void> {
    await Promise.all([this.scheduler.drain(), this.streams.drain()]);
    try {
      await this.ready;
    } catch {
      this.#unshareInitialize?.();
      return; // never opened: nothing to close
    }
    this.#unshareInitialize?.();
    await this.#bus?.close();
    await this.dialect.releasePrepared(this.dataSource);
    if (!this.#adopted) {
      if (this.dataSource.isInitialized) await this.dataSource.destroy();
      return;
    }
    // Each one, whatever the others do: the owner's DataSource is left as it was.
    const failures: unknown[] = [];
    for (const undo of this.#undo.splice(0).reverse()) {
      try {
        await undo();
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length > 0) {
      throw new DatabaseError(
        `sasync could not take back all it added to ${this.label}: ${failures.map(String).join('; ')}`,
        { cause: failures[0], target: this.label },
      );
    }
  }

  /** @internal */
  addRef(): this {
    this.#refs++;
    return this;
  }
}

const registry = new Map<ResolvedTarget['key'], SharedDatabase>();
/** The closes under way of SharedDatabases on an app's DataSource, by DataSource. */
const leaving = new Map<ResolvedTarget['key'], Promise<void>>();

/** The SharedDatabase that made each of sasync's own DataSources. */
const owned = new WeakMap<DataSource, SharedDatabase>();

/**
 * The shared database for a target, opened if no broker has it open. A
 * target that is another broker's DataSource (`broker.dataSource`, sasync's
 * own) is that broker's shared database: one queue and one set of
 * connections, open until the last broker on it shuts down.
 * @throws DatabaseError for one of sasync's own DataSources that is closed
 *   or being closed (every broker on it shut down), or that it gave up after
 *   a failed opening: it is not the app's to hand on.
 */
export function acquireDatabase(target: ResolvedTarget): SharedDatabase {
  const owner = target.dataSource && owned.get(target.dataSource);
  if (owner) {
    if (registry.get(owner.key) === owner && owner.dataSource === target.dataSource) return owner.addRef();
    throw new DatabaseError(
      `${owner.label}: this DataSource is one sasync made for a broker, and ` +
        (owner.dataSource === target.dataSource
          ? 'every broker on it has shut down, so it is closed'
          : 'sasync gave it up after it failed to open') +
        '. Make the broker from the same target as the first one (its URL or options): it opens a new DataSource',
      { target: owner.label },
    );
  }
  let db = registry.get(target.key);
  if (!db) {
    db = new SharedDatabase(target.key, target);
    registry.set(target.key, db);
  }
  return db.addRef();
}
