import type { DataSource, DataSourceOptions } from 'typeorm';
import { dialectFor, newDataSource, type BusOptions, type ChangeBus, type Dialect } from '../dialect';
import { DatabaseError } from '../errors';
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
 */
export class SharedDatabase {
  readonly dialect: Dialect;
  readonly scheduler: PriorityScheduler;
  /** How many row streams may hold a connection at once, and the queue they wait on. */
  readonly streams: StreamBudget;
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

  constructor(
    readonly key: ResolvedTarget['key'],
    target: ResolvedTarget,
  ) {
    this.label = target.label;
    this.dialect = dialectFor(target.options);
    const options = this.dialect.dataSourceOptions(target.options);
    this.#options = { ...options, logging: options.logging ?? false } as DataSourceOptions;
    this.#dataSource = newDataSource(this.#options);
    this.scheduler = new PriorityScheduler(this.dialect.transactionSlots(this.#dataSource));
    this.streams = new StreamBudget(this, this.dialect.streamSlots(this.#dataSource), this.scheduler);
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
   * database was down, locked or missing), tries again with a new
   * DataSource. The brokers' start-ups, which call this, pace the attempts.
   */
  open(): Promise<void> {
    return this.#closed ? this.ready : this.#opening.ensure(true);
  }

  async #open(): Promise<void> {
    // A DataSource whose initialize() failed is not tried again: a new one is.
    if (this.#attempts++ > 0) this.#dataSource = newDataSource(this.#options);
    const ds = this.#dataSource;
    try {
      await ds.initialize();
    } catch (cause) {
      const reason = cause instanceof Error ? cause.message : String(cause);
      throw new DatabaseError(
        `cannot open ${this.label}: ${reason}. Check that the server is running and the target is right; ` +
          'the next call tries again',
        { cause, target: this.label },
      );
    }
    this.dialect.prepareConnection(ds);
    this.dialect.gateOutsideCalls?.(ds, { claim: () => this.#claim() });
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

  /** Drops one broker's share; the last one drains the queue and closes the DataSource. */
  release(): Promise<void> {
    if (--this.#refs > 0) return Promise.resolve();
    if (registry.get(this.key) === this) registry.delete(this.key);
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    await Promise.all([this.scheduler.drain(), this.streams.drain()]);
    try {
      await this.ready;
    } catch {
      return; // never opened: nothing to close
    }
    await this.#bus?.close();
    await this.dialect.releasePrepared(this.dataSource);
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }

  /** @internal */
  addRef(): this {
    this.#refs++;
    return this;
  }
}

const registry = new Map<ResolvedTarget['key'], SharedDatabase>();

/** The shared database for a target, opened if no broker has it open. */
export function acquireDatabase(target: ResolvedTarget): SharedDatabase {
  let db = registry.get(target.key);
  if (!db) {
    db = new SharedDatabase(target.key, target);
    registry.set(target.key, db);
  }
  return db.addRef();
}
