import { randomUUID } from 'node:crypto';
import { lastValueFrom } from 'rxjs';
import type { LiveBroker } from './live-broker';
import { changeLogOf, type ChangeLog } from '../changes/change-log';
import type { LogListener } from '../changes/listener';
import { CHANGES_TABLE } from '../changes/log-table';
import type { ReaderHost } from '../changes/reader';
import { DEFAULT_RETENTION } from '../changes/retention';
import type { ChangeBus } from '../dialect';
import type { LiveQueryRunner, TableRef } from '../dialect/dialect-live';
import {
  captureMayRetry,
  checkPgCaptures,
  installPgCapture,
  type PgCaptured,
  type PgCaptureLog,
  type PgTree,
} from '../dialect/postgres/table-capture';
import { BrokerClosedError, LiveQueryError } from '../errors';
import { storeChannel } from '../stores/channel';
import type { Statement } from '../stores/statement';
import type { Capture, CaptureSink, CaptureStats } from './capture';
import { LookSchedule } from './look-schedule';
import { CAPTURE_METHOD, installPatiently } from './patient-install';

/** The `kind` of the entries capture triggers append: no store table has it. */
export const TABLE_KIND = '#table';

/**
 * How often a captured table's partition tree is looked at again: a
 * partition created or attached since, or a parent the table was attached
 * to, gets the capture then, and the table is reported changed (within
 * this long, whatever was written into it meanwhile). One read of the
 * catalog looks at every watched table due within half of this: tables
 * looked at together stay in step, so that many watched tables cost one
 * small read per period, not one each.
 */
export const TREE_CHECK_MS = 5000;
/** A look that failed is made again after twice the pause before it, up to this. */
export const MAX_TREE_CHECK_MS = 60_000;
/**
 * How long a look may take to install the capture on a changed tree (each
 * lock wait in it is bounded too, see CAPTURE_LOCK_WAIT_MS: a trigger waits
 * for the writes under way on its table, and holds new ones back while it
 * waits).
 */
export const TREE_INSTALL_TIMEOUT_MS = 10_000;

/** One captured table: the registrations of its groups with the change log reader, by group. */
interface PgTable {
  readonly table: TableRef;
  stopped: boolean;
  readonly groups: Map<string, () => void>;
  /** The pause before the next look: TREE_CHECK_MS, doubled after each look that failed. */
  pause: number;
  /** The capture's trigger name, once installed. */
  trigger?: string;
  /** Set while the first install pauses between tries: ends the pause (the watch stopped). */
  wake?: () => void;
}

/**
 * Capture on postgres: statement-level triggers append one entry per
 * transaction and table to the change log (see installPgCapture), so that
 * the DataSource's one change log reader, which serves its stores too,
 * reads them: a write from this process, another process or outside
 * sasync (psql) alike. Each captured table listens to the groups of its
 * partition tree (kind '#table'); any entry of them says it changed, and a
 * reader's resync (retention, the log lost or unreadable) is passed on.
 * `start` resolves once the triggers exist and the reader has its
 * position: a commit after that fires a trigger, and its entry is after
 * the position.
 */
export class PostgresCapture implements Capture {
  readonly #bus: ChangeBus;
  readonly #sink: CaptureSink;
  readonly #tables = new Map<string, PgTable>();
  readonly #origin = randomUUID();
  readonly #looks = new LookSchedule<string>((keys) => this.#lookAt(keys), TREE_CHECK_MS / 2);
  /** The looks' installs, one after another (see #oneInstallAtATime). */
  #installs: Promise<unknown> = Promise.resolve();
  #log: ChangeLog | undefined;

  constructor(bus: ChangeBus, sink: CaptureSink) {
    this.#bus = bus;
    this.#sink = sink;
  }

  async start(key: string, table: TableRef): Promise<void> {
    const state: PgTable = { table, stopped: false, groups: new Map(), pause: TREE_CHECK_MS };
    this.#tables.set(key, state);
    const broker = this.#needBroker();
    const log = this.#logOf(broker);
    await broker.table(CHANGES_TABLE.name, CHANGES_TABLE.columns, CHANGES_TABLE.options);
    const name = JSON.stringify(table.schema === undefined ? table.name : `${table.schema}.${table.name}`);
    const captured = await installPatiently(
      (timeout) => this.#install(broker, table, log, timeout),
      captureMayRetry,
      state,
      `table ${name}`,
    );
    if (captured === undefined || state.stopped) return;
    if ('unwatchable' in captured) {
      throw new LiveQueryError('unwatchable-table', '', `cannot watch ${captured.unwatchable}`);
    }
    state.trigger = captured.trigger;
    await this.#listen(key, state, log, captured.groups);
    if (!state.stopped) this.#looks.at(key, state.pause);
  }

  stop(key: string): void {
    const state = this.#tables.get(key);
    if (!state) return;
    this.#tables.delete(key);
    state.stopped = true;
    this.#looks.drop(key);
    state.wake?.();
    for (const stop of state.groups.values()) stop();
    state.groups.clear();
  }

  close(): void {
    for (const key of [...this.#tables.keys()]) this.stop(key);
  }

  /** Installs the capture on `table`'s partition tree, in a transaction of its own bounded by `timeout` ms. */
  #install(broker: LiveBroker, table: TableRef, log: ChangeLog, timeout: number): Promise<PgCaptured> {
    return lastValueFrom(
      broker.transact(
        (tx) => installPgCapture((sql, parameters) => tx.query(sql, [...parameters]), table, this.#where(log)),
        // READ COMMITTED whatever the server's default: once it holds the DDL lock, an install must see the
        // triggers that one before it made.
        { name: CAPTURE_METHOD, retry: 3, timeout, isolation: 'READ COMMITTED' },
      ),
    );
  }

  #where(log: ChangeLog): PgCaptureLog {
    return { table: CHANGES_TABLE.name, channel: log.channel, kind: TABLE_KIND };
  }

  /** Listens to `groups` it does not listen to yet; resolves once the reader has a position for each. */
  async #listen(key: string, state: PgTable, log: ChangeLog, groups: readonly string[]): Promise<void> {
    const positioned: Promise<void>[] = [];
    for (const group of groups) {
      if (state.groups.has(group)) continue;
      const listener: LogListener = {
        kind: TABLE_KIND,
        groupId: group,
        origin: this.#origin,
        keys: () => !state.stopped && this.#sink.changed([key]),
        group: () => !state.stopped && this.#sink.changed([key]),
        resync: () => !state.stopped && this.#sink.resync([key]),
      };
      const listening = log.listen(listener, this.#host());
      state.groups.set(group, listening.stop);
      positioned.push(listening.positioned);
    }
    await Promise.all(positioned);
  }

  /**
   * Looks at the partition trees of the tables `keys` (those still
   * watched), in one read, and follows each one that changed; then
   * schedules each table's next look: after {@link TREE_CHECK_MS}, or after a
   * look that failed (the read or the table's install), twice the pause
   * before, up to {@link MAX_TREE_CHECK_MS}.
   */
  async #lookAt(keys: readonly string[]): Promise<void> {
    const watched = keys.flatMap((key) => {
      const state = this.#tables.get(key);
      return state && !state.stopped && state.trigger !== undefined ? [{ key, state, trigger: state.trigger }] : [];
    });
    // One read per trigger name (one per change log schema: in practice one for them all).
    const triggers = new Set(watched.map((w) => w.trigger));
    await Promise.all(
      [...triggers].map((trigger) =>
        this.#lookAtTrees(
          trigger,
          watched.filter((w) => w.trigger === trigger),
        ),
      ),
    );
  }

  /**
   * Reads the trees of `tables` (whose capture's trigger is `trigger`) in
   * one statement, then follows each on its own (one waiting for its
   * install does not hold the others back) and schedules its next look.
   */
  async #lookAtTrees(trigger: string, tables: readonly { key: string; state: PgTable }[]): Promise<void> {
    let trees: readonly (PgTree | undefined)[] | undefined;
    try {
      const read: LiveQueryRunner = (sql, parameters) =>
        this.#read({ sql, parameters: [...parameters] }, 'live: check the partition tree');
      trees = await checkPgCaptures(
        read,
        tables.map((t) => t.state.table),
        trigger,
      );
    } catch {
      // A lost connection, no broker watching any more: each table's look failed (no tree to follow).
    }
    await Promise.all(
      tables.map(async ({ key, state }, i) => {
        let looked = false;
        try {
          looked = await this.#follow(key, state, trees?.[i]);
        } finally {
          state.pause = looked ? TREE_CHECK_MS : Math.min(MAX_TREE_CHECK_MS, state.pause * 2);
          if (!state.stopped) this.#looks.at(key, state.pause);
        }
      }),
    );
  }

  /**
   * Follows what a look at a table's tree found (`seen`; undefined: the
   * table is gone, which the live query's re-run says, or the read failed). A partition
   * created, attached or detached since the capture was installed (or the
   * table attached to a parent, or a trigger dropped): the capture goes on
   * the tables of the tree that lack it, the groups follow the tree, and
   * the table is reported changed (an attach or a detach changes its rows,
   * and writes straight into a new partition were not logged). Whether the
   * look succeeded: a capture that cannot be installed on the changed tree
   * (a lock held past the install's wait, a role not allowed to make
   * triggers on a new partition) resyncs the table each time, so that the
   * live query re-reads it instead of missing its writes.
   */
  async #follow(key: string, state: PgTable, seen: PgTree | undefined): Promise<boolean> {
    const broker = this.#sink.broker();
    const log = this.#log;
    if (!seen || !broker || !log) return false;
    if (state.stopped) return true;
    const same = seen.groups.length === state.groups.size && seen.groups.every((g) => state.groups.has(g));
    if (same && seen.complete) return true;
    try {
      const captured = await this.#oneInstallAtATime(() =>
        this.#install(broker, state.table, log, TREE_INSTALL_TIMEOUT_MS),
      );
      if ('unwatchable' in captured) return false;
      if (state.stopped) return true;
      state.trigger = captured.trigger;
      const now = new Set(captured.groups);
      for (const [group, stop] of state.groups) {
        if (now.has(group)) continue;
        stop();
        state.groups.delete(group);
      }
      await this.#listen(key, state, log, captured.groups);
      if (!state.stopped) this.#sink.changed([key]);
      return true;
    } catch {
      if (!state.stopped) this.#sink.resync([key]);
      return false;
    }
  }

  /**
   * Runs the looks' installs one after another: those of tables of one tree
   * would otherwise wait for each other's DDL lock, and one waiting longer
   * than an install's lock wait would fail and resync for nothing. (The
   * reads of a look, and first installs, which try again, are not queued.)
   */
  #oneInstallAtATime<T>(install: () => Promise<T>): Promise<T> {
    const run = this.#installs.then(install, install);
    this.#installs = run.catch(() => undefined);
    return run;
  }

  stats(): CaptureStats {
    let groups = 0;
    for (const state of this.#tables.values()) groups += state.groups.size;
    return {
      tables: this.#tables.size,
      groups,
      reads: this.#log?.reader.reads ?? 0,
      active: (this.#log?.reader.listening ?? 0) > 0,
    };
  }

  /**
   * The DataSource's change log, as its stores share it (the first to ask
   * sets it up; nothing here polls: postgres wakes readers by NOTIFY).
   */
  #logOf(broker: LiveBroker): ChangeLog {
    this.#log ??= changeLogOf(this.#bus, () => ({
      dialect: 'postgres',
      channel: storeChannel(CHANGES_TABLE.name, broker.dataSource.options),
      pollInterval: 0,
      retention: DEFAULT_RETENTION,
    }));
    return this.#log;
  }

  /** How the reader runs its statements for these listeners: through a broker still watching. */
  #host(): ReaderHost {
    return {
      read: (statement) => this.#read(statement),
      ensureLog: async () => {
        await this.#needBroker().table(CHANGES_TABLE.name, CHANGES_TABLE.columns, CHANGES_TABLE.options);
      },
    };
  }

  /** A read on the primary, through a broker still watching. */
  async #read<T>(statement: Statement, name = 'live: read the change log'): Promise<T[]> {
    const broker = this.#needBroker();
    const rows = await lastValueFrom(broker.query(statement.sql, statement.parameters, { name, route: 'primary' }), {
      defaultValue: [],
    });
    return rows as T[];
  }

  #needBroker(): LiveBroker {
    const broker = this.#sink.broker();
    if (!broker) throw new BrokerClosedError('the live query watcher', 'a read');
    return broker;
  }
}
