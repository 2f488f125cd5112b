import { DataSource } from 'typeorm';
import { dialectFor, type BusOptions, type ChangeBus, type Dialect } from '../dialect';
import { DatabaseError } from '../errors';
import { PriorityScheduler } from '../scheduler/priority-scheduler';
import type { ResolvedTarget } from '../target';
import type { TableInfo } from '../schema/table-spec';
import { acquireSlot, holdsSlot } from './slot';

/** For waits nobody aborts. */
const NEVER = new AbortController().signal;

/**
 * One DataSource and its queue, shared by every broker with the same target
 * (sAsync's queue Factory). It is opened by the first broker and destroyed
 * when the last one shuts down.
 */
export class SharedDatabase {
  readonly dataSource: DataSource;
  readonly dialect: Dialect;
  readonly scheduler: PriorityScheduler;
  /**
   * The queue for row streams' own connections, apart from transactions';
   * undefined when streams must share the transaction slot (sqlite in memory).
   */
  readonly streamScheduler: PriorityScheduler | undefined;
  readonly label: string;
  /** Table creations under way, so that concurrent calls for one name share one. */
  readonly tables = new Map<string, { readonly info: TableInfo; readonly done: Promise<TableInfo> }>();
  readonly ready: Promise<void>;
  #refs = 0;
  #closed: Promise<void> | undefined;
  #bus: ChangeBus | undefined;

  constructor(
    readonly key: ResolvedTarget['key'],
    target: ResolvedTarget,
  ) {
    this.label = target.label;
    this.dialect = dialectFor(target.options);
    const options = this.dialect.dataSourceOptions(target.options);
    this.dataSource = new DataSource({ ...options, logging: options.logging ?? false });
    this.scheduler = new PriorityScheduler(this.dialect.transactionSlots(this.dataSource));
    const streamSlots = this.dialect.streamSlots(this.dataSource);
    this.streamScheduler = streamSlots > 0 ? new PriorityScheduler(streamSlots) : undefined;
    this.ready = this.dataSource.initialize().then(
      (ds) => {
        this.dialect.prepareConnection(ds);
        this.dialect.gateOutsideCalls?.(ds, {
          holdsSlot: () => holdsSlot(this.scheduler),
          acquire: () => acquireSlot(this.scheduler, {}, NEVER),
        });
      },
      (cause: unknown) => {
        if (registry.get(this.key) === this) registry.delete(this.key);
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new DatabaseError(
          `cannot open ${this.label}: ${reason}. Check that the server is running and the target is right.`,
          { cause, target: this.label },
        );
      },
    );
    // Brokers report a failed start themselves; this copy must not count as unhandled.
    this.ready.catch(() => undefined);
  }

  /** The change bus of this DataSource, opened by the first store that asks (with its options). */
  async bus(options: BusOptions): Promise<ChangeBus> {
    await this.ready;
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
    await Promise.all([this.scheduler.drain(), this.streamScheduler?.drain()]);
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
