import { until } from './streams';
import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { AccessBroker, PersistentArray, PersistentDict } from '../../lib';
import { devalueSerializer } from '../../lib/stores/serializer';
import { storedRows } from './stores';
import { ph, uniqueName, type TestTarget } from './targets';
import { HangError, settleResources, resourceCounts, within } from './model-handles';
import { describeError, Ledger, ModelFailure } from './model-ledger';
import { pgActivity, pgClients } from './model-diagnose';
import { Op } from './model-op';
import type { Hole } from './model-plans';

/** How long anything a program started may take to settle, or to shut down. */
export const SETTLE_MS = 10_000;
export const SHUTDOWN_MS = 10_000;
/** Once something hung, what is left waits this long at most: the failure is known, the run goes on. */
const AFTER_HANG_MS = 2_000;

let programs = 0;

/**
 * Each program's postgres sessions carry a name of their own: pg_stat_activity
 * tells them apart when one hangs, and the name makes the target, hence the
 * DataSource, the program's own (what an earlier failed program left behind
 * cannot change what this one sees).
 */
function named(target: string): { target: string; session: string } {
  const session = `sasync_model_${process.pid}_${++programs}`;
  if (!target.startsWith('postgres')) return { target, session };
  const url = new URL(target);
  url.searchParams.set('application_name', session);
  return { target: url.toString(), session };
}

/** The broker of a program, with its own table of tagged rows. */
export class ModelBroker extends AccessBroker {
  constructor(
    target: string,
    readonly tableName: string,
  ) {
    super(target, { name: 'ModelBroker' });
  }

  protected override async startup(): Promise<void> {
    await this.table(this.tableName, [
      { name: 'id', type: 'integer', primary: true, generated: true },
      { name: 'tag', type: 'string', length: 40, nullable: false },
    ]);
  }
}

/**
 * The real system a random program runs against: a broker with a table of
 * its own, a PersistentDict with a group of its own, and what the program
 * did to them (the ledger of writes, the operations, the dict's expected
 * content), checked against the database when the program ends.
 */
export class World {
  readonly ledger = new Ledger();
  readonly ops: Op[] = [];
  /** EntityManagers kept by transactions' work, with the operation they came from. */
  readonly kept: { readonly manager: EntityManager; readonly op: Op }[] = [];
  /** Tags read by anyone from committed data: they must be in the table at the end. */
  readonly seen = new Map<string, string>();
  /** What the dict holds, as the program's accepted writes made it. */
  readonly dictModel = new Map<string, unknown>();
  /** What the array holds, by place (as JSON). */
  readonly arrayModel = new Map<string, unknown>();
  readonly failures: string[] = [];
  brokerShutdown: Promise<void> | undefined;
  dictShutdown: Promise<void> | undefined;
  readonly #baseline: ReadonlyMap<string, number>;
  /** Failures already thrown by assertNoFailures. */
  #reported = 0;
  #hangs = 0;
  readonly #observer: AccessBroker | undefined;

  private constructor(
    readonly t: TestTarget,
    readonly target: string,
    readonly session: string,
    readonly holes: ReadonlySet<Hole>,
    readonly broker: ModelBroker,
    readonly dict: PersistentDict<string, unknown>,
    readonly array: PersistentArray<unknown>,
    observer: AccessBroker | undefined,
    baseline: ReadonlyMap<string, number>,
  ) {
    this.#observer = observer;
    this.#baseline = baseline;
  }

  static async create(t: TestTarget, holes: ReadonlySet<Hole>): Promise<World> {
    const baseline = resourceCounts();
    const { target, session } = named(t.target());
    // An in-memory database lives while a broker holds it: this one keeps it
    // for reading the table back after the program's own shut down.
    const observer = t.name === 'sqlite-memory' ? new AccessBroker(target, { name: 'ModelObserver' }) : undefined;
    const broker = new ModelBroker(target, uniqueName('model'));
    const group = uniqueName('model');
    const dict = new PersistentDict<string, unknown>(group, target);
    const array = new PersistentArray<unknown>(group, target);
    try {
      await within(Promise.all([broker.waitUntilRunning(), dict.waitUntilRunning()]), SETTLE_MS, 'start-up');
    } catch (error) {
      await Promise.all([broker.shutdown(), dict.shutdown(), array.shutdown(), observer?.shutdown()]).catch(
        () => undefined,
      );
      throw error;
    }
    return new World(t, target, session, holes, broker, dict, array, observer, baseline);
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.t.dialect;
  }

  get brokerClosed(): boolean {
    return this.brokerShutdown !== undefined;
  }

  get dictClosed(): boolean {
    return this.dictShutdown !== undefined;
  }

  insertSql(): string {
    return `INSERT INTO ${this.broker.tableName} (tag) VALUES (${ph(this.dialect, 1)})`;
  }

  selectSql(): string {
    return `SELECT id, tag FROM ${this.broker.tableName} ORDER BY id`;
  }

  /**
   * Managers kept from transactions that have ended, as their callers were
   * told (committed or rolled back; an unsubscribed one may still be rolling back).
   */
  endedManagers(): EntityManager[] {
    return this.kept
      .filter((k) => k.op.outcome.kind === 'acked' || k.op.outcome.kind === 'failed')
      .map((k) => k.manager);
  }

  newOp(label: string): Op {
    const op = new Op(this.ops.length + 1, label);
    this.ops.push(op);
    void op.done.then(() => {
      if (op.mustSettleBy !== undefined && op.settledAt! > op.mustSettleBy)
        this.fail(`op ${op.id} ended ${op.settledAt! - op.mustSettleBy} ms after its timeout or abort (and margin)`);
    });
    return op;
  }

  fail(problem: string): void {
    this.failures.push(problem);
  }

  /** Throws what went wrong since the last call, with the program's operations and how they ended. */
  assertNoFailures(): void {
    const fresh = this.failures.slice(this.#reported);
    this.#reported = this.failures.length;
    if (fresh.length === 0) return;
    throw new ModelFailure(
      `${fresh.join('\n')}\n--- the program's operations (${this.t.name}):\n${this.ops.join('\n')}`,
    );
  }

  /** Shuts the broker, the stores (dict and array) or all down now, without waiting (later commands race with it). */
  shutdown(which: 'broker' | 'stores' | 'both'): void {
    if (which !== 'stores') this.brokerShutdown ??= this.#bounded(this.broker.shutdown(), 'broker.shutdown()');
    if (which !== 'broker') {
      this.dictShutdown ??= Promise.all([
        this.#bounded(this.dict.shutdown(), 'dict.shutdown()'),
        this.#bounded(this.array.shutdown(), 'array.shutdown()'),
      ]).then(() => undefined);
    }
  }

  /**
   * Waits until every operation has settled and cancelled work has rolled
   * back, and the dict's writes are durable; then checks the pool is whole.
   */
  async settle(): Promise<void> {
    const ops = Promise.all(this.ops.map((op) => op.done));
    await within(ops, this.#bound(SETTLE_MS), 'the operations').catch((error: unknown) => this.#hung(error));
    if (!this.brokerClosed)
      await within(this.broker.drain(), this.#bound(SETTLE_MS), 'broker.drain()').catch((e: unknown) => this.#hung(e));
    if (!this.dictClosed) {
      const flushed = Promise.all([this.dict.flush(), this.array.flush()]);
      await within(flushed, this.#bound(SETTLE_MS), 'the stores flush()').catch((error: unknown) =>
        this.fail(`the stores' flush() failed: ${describeError(error)}`),
      );
    }
    await this.#checkPool();
  }

  /** The tags in the table now, read through a broker that is still open (none if there is none). */
  async tableTags(): Promise<string[] | undefined> {
    const reader = this.#observer ?? (this.brokerClosed ? undefined : this.broker);
    if (!reader) return undefined;
    const rows = await lastValueFrom(reader.query<{ tag: string }>(this.selectSql()));
    return rows.map((r) => r.tag);
  }

  /** Compares the table with the ledger: acknowledged writes there, refused or rolled-back ones not. */
  compareTable(tags: readonly string[], final: boolean): void {
    const counts = new Map<string, number>();
    for (const tag of tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
    for (const [tag, n] of counts) {
      const fate = this.ledger.fate(tag);
      if (n > 1) this.fail(`write ${tag} is in the table ${n} times`);
      if (fate === undefined) this.fail(`the table has a row ${tag} that no write of the program made`);
      if (fate === 'absent') this.fail(`write ${tag} was rolled back, cancelled or refused, but is in the table`);
    }
    for (const [tag, fate] of this.ledger.entries()) {
      if (fate === 'present' && !counts.has(tag)) this.fail(`write ${tag} was acknowledged but is not in the table`);
    }
    if (!final) return;
    for (const [tag, reader] of this.seen) {
      if (!counts.has(tag)) this.fail(`${reader} read ${tag} as committed, but it is not in the table at the end`);
    }
  }

  /**
   * Ends the program: waits for everything, shuts down within a bound, reads
   * the table and the dict's rows back, drops them, and checks that nothing
   * is left running. Throws a ModelFailure listing every problem.
   */
  async finish(): Promise<void> {
    await this.settle();
    this.shutdown('both');
    await Promise.all([this.brokerShutdown, this.dictShutdown]);
    const checker = this.#observer ?? new AccessBroker(this.target, { name: 'ModelChecker' });
    try {
      const rows = await lastValueFrom(checker.query<{ tag: string }>(this.selectSql()));
      this.compareTable(
        rows.map((r) => r.tag),
        true,
      );
      this.#compareDict(await storedRows(checker, this.dict.group));
      await this.#compareArray();
    } finally {
      await this.#drop(checker);
      await within(checker.shutdown(), this.#bound(SHUTDOWN_MS), 'the checker broker shutdown()').catch((e: unknown) =>
        this.#hung(e),
      );
    }
    if (process.env.SASYNC_MODEL_DEBUG)
      console.log(`${this.t.name}: ${this.ops.join('\n')}\n${[...this.ledger.entries()].join(' ')}`);
    const left = await settleResources(this.#baseline, 3000);
    if (left.length > 0) this.fail(`after every shutdown, still active: ${left.join(', ')}`);
    this.assertNoFailures();
  }

  #compareDict(stored: ReadonlyMap<string, string>): void {
    const decoded = new Map([...stored].map(([k, text]) => [k, devalueSerializer.decode(text)]));
    const show = (m: ReadonlyMap<string, unknown>) => JSON.stringify([...m].sort(([a], [b]) => a.localeCompare(b)));
    if (show(decoded) !== show(this.dictModel)) {
      this.fail(`the dict's rows are ${show(decoded)}, but its accepted writes make ${show(this.dictModel)}`);
    }
  }

  /** Reads every place of the array's small domain back through a fresh PersistentArray. */
  async #compareArray(): Promise<void> {
    const fresh = new PersistentArray<unknown>(this.dict.group, this.target);
    try {
      for (const x of [0, 1]) {
        for (const y of ['a', null]) {
          const key = JSON.stringify([x, y, null]);
          const stored = await fresh.get(x, y, null);
          if (JSON.stringify(stored) !== JSON.stringify(this.arrayModel.get(key)))
            this.fail(
              `the array holds ${JSON.stringify(stored)} at ${key}, its accepted writes make ${JSON.stringify(this.arrayModel.get(key))}`,
            );
        }
      }
    } finally {
      await within(fresh.shutdown(), this.#bound(SHUTDOWN_MS), 'the fresh array shutdown()').catch((e: unknown) =>
        this.#hung(e),
      );
    }
  }

  async #checkPool(): Promise<void> {
    // The broker's DataSource, while anyone (the dict, the observer) still holds it.
    const holder = this.#observer ?? this.broker;
    if (!this.#observer && this.brokerClosed && this.dictClosed) return;
    if (!holder.dataSource.isInitialized) return;
    // A stream ended by take(n) gives its connection back a few turns after its subscriber completed.
    const whole = () => {
      const stats = holder.connectionStats();
      return stats.waiting === 0 && stats.idle === stats.open;
    };
    await until(whole, 'the pool is whole', 2000).catch(() =>
      this.fail(`the pool is not whole after every operation: ${JSON.stringify(holder.connectionStats())}`),
    );
  }

  async #drop(checker: AccessBroker): Promise<void> {
    const drop = async () => {
      await lastValueFrom(checker.query(`DROP TABLE IF EXISTS ${this.broker.tableName}`));
      for (const table of ['sasync_items', 'sasync_array'])
        await lastValueFrom(
          checker.query(`DELETE FROM ${table} WHERE group_id = ${ph(this.dialect, 1)}`, [this.dict.group]),
        );
    };
    await within(drop(), this.#bound(SETTLE_MS), 'dropping the table').catch((e: unknown) =>
      this.fail(`could not drop the program's table: ${describeError(e)}`),
    );
  }

  #bounded(promise: Promise<void>, what: string): Promise<void> {
    return within(promise, this.#bound(SHUTDOWN_MS), what).catch((error: unknown) =>
      error instanceof HangError ? this.#hung(error) : this.fail(`${what} rejected: ${describeError(error)}`),
    );
  }

  #bound(ms: number): number {
    return this.#hangs > 0 ? AFTER_HANG_MS : ms;
  }

  async #hung(error: unknown): Promise<void> {
    this.#hangs++;
    const pending = this.ops.filter((op) => op.pending).map((op) => `op ${op.id} ${op.label}`);
    this.fail(`${describeError(error)}${pending.length ? ` (still pending: ${pending.join('; ')})` : ''}`);
    if (this.dialect !== 'postgres') return;
    const stats = this.broker.dataSource.isInitialized ? JSON.stringify(this.broker.connectionStats()) : 'closed';
    const clients = this.broker.dataSource.isInitialized ? pgClients(this.broker.dataSource.driver) : '';
    this.fail(`pool: ${stats}; sessions:\n${await pgActivity(this.target, this.session)}\nclients:\n${clients}`);
  }
}
