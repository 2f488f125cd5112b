import { randomUUID } from 'node:crypto';
import { clock } from '../clock';
import type { ChangeBus } from '../dialect';
import { pollDataVersion } from './data-version';
import type { LogListener } from './listener';
import type { LogDialect, ReadRows } from './log-dialect';
import type { Position } from './position';
import { savedPosition } from './saved-position';
import { postgresLog } from './postgres-log';
import { ChangeReader, type ReaderHost } from './reader';
import { prune, PRUNE_EVERY_MS, PRUNE_EVERY_WRITES, type Retention } from './retention';
import { sqliteLog } from './sqlite-log';

/** How a DataSource's change log is set up; the first store on the DataSource gives it. */
export interface LogSetup {
  readonly dialect: 'sqlite' | 'postgres';
  /** The wake-up channel (see storeChannel). */
  readonly channel: string;
  /** Poll `PRAGMA data_version` every this many ms while listening (sqlite files; 0: never, as in memory). */
  readonly pollInterval: number;
  readonly retention: Retention;
}

/** What a writer lends the log to prune it: a short transaction of its own, and the placeholders. */
export interface PruneHost {
  transact(work: (query: ReadRows) => Promise<void>): Promise<void>;
  placeholder(n: number): string;
}

const DIALECTS: Record<LogSetup['dialect'], LogDialect> = { sqlite: sqliteLog, postgres: postgresLog };

/**
 * A DataSource's change log, as its stores share it: one reader (and so one
 * read per wake-up) for every listening group, woken by its bus (a NOTIFY,
 * or a commit in this process) and, on a sqlite file, by data_version
 * polling; and the writers' pruning, at most one at a time. The bus's
 * payloads carry nothing: anyone may NOTIFY, which at worst costs a read.
 */
export class ChangeLog {
  readonly dialect: LogDialect;
  readonly reader: ChangeReader;
  /**
   * The payload of this DataSource's own wake-ups. Its reader skips them:
   * its own commits wake it directly, and only when another store here
   * hears the group (see committed). A forged NOTIFY with this payload is
   * no wake-up, as if it had not been sent: every other process's commit
   * sends its own payload, so nothing is delayed.
   */
  readonly token = randomUUID();
  readonly #bus: ChangeBus;
  readonly #setup: LogSetup;
  #unwake: (() => void) | undefined;
  #writes = 0;
  #lastPrune = -Infinity;
  #pruning: Promise<void> | undefined;

  constructor(bus: ChangeBus, setup: LogSetup) {
    this.#bus = bus;
    this.#setup = setup;
    this.dialect = DIALECTS[setup.dialect];
    this.reader = new ChangeReader(this.dialect);
  }

  get channel(): string {
    return this.#setup.channel;
  }

  /**
   * The reader's position as text to keep and give back as a store's
   * `since` (see savedPosition); undefined before its first read.
   */
  savedPosition(): string | undefined {
    const position = this.reader.position;
    return position && savedPosition(this.#setup.dialect, position);
  }

  /**
   * Starts `listener` hearing its group's entries; `positioned` resolves
   * once its reads will miss nothing (see ChangeReader.register). With
   * `since` (a saved position, see savedPosition), it is first told what
   * was committed after it.
   */
  listen(listener: LogListener, host: ReaderHost, since?: Position): { stop: () => void; positioned: Promise<void> } {
    const hosts = (this.#hosts ??= new Set());
    hosts.add(host);
    if (!this.#unwake) this.#unwake = this.#wakeUps();
    const { stop: unregister, positioned } = this.reader.register(listener, host, since);
    const stop = () => {
      unregister();
      hosts.delete(host);
      if (this.reader.listening > 0) return;
      this.#unwake?.();
      this.#unwake = undefined;
    };
    return { stop, positioned };
  }

  #hosts: Set<ReaderHost> | undefined;

  /** What wakes the reader: the bus (and its reconnections) and, on a sqlite file, data_version. */
  #wakeUps(): () => void {
    const wake = () => void this.reader.wake();
    // Back from a reconnection: read from the position, nothing was lost.
    const unwatch = this.#bus.onState((state) => state === 'listening' && wake());
    const notice = (payload: string) => payload !== this.token && wake();
    const unlisten = this.#bus.listen(this.#setup.channel, { notice, resync: wake });
    const { pollInterval } = this.#setup;
    const unpoll =
      pollInterval > 0
        ? pollDataVersion(() => this.#hosts?.values().next().value?.read, pollInterval, wake)
        : () => undefined;
    return () => {
      unwatch();
      unlisten();
      unpoll();
    };
  }

  /**
   * A write transaction on this DataSource committed (by `origin`, to
   * `kind`'s `group`): wakes its reader if another store here hears that
   * group (else its entry is passed over by the next read); and now and then prunes (after
   * PRUNE_EVERY_WRITES writes or PRUNE_EVERY_MS, the first write included),
   * in a transaction of its own that no writer waits for.
   */
  committed(host: PruneHost, kind: string, group: string, origin: string): void {
    if (this.reader.hears(kind, group, origin)) void this.reader.wake();
    this.#writes++;
    const now = clock.now();
    if (this.#pruning || (this.#writes < PRUNE_EVERY_WRITES && now - this.#lastPrune < PRUNE_EVERY_MS)) return;
    this.#writes = 0;
    this.#lastPrune = now;
    this.#pruning = this.prune(host)
      .then(() => undefined)
      .catch(() => undefined)
      .finally(() => (this.#pruning = undefined));
  }

  /** Prunes now (see retention.ts); resolves with how many entries went. */
  async prune(host: PruneHost): Promise<number> {
    let removed = 0;
    await host.transact(async (query) => {
      removed = await prune(query, this.dialect, (n) => host.placeholder(n), this.#setup.retention, clock.now());
    });
    return removed;
  }
}

const logs = new WeakMap<ChangeBus, ChangeLog>();

/** The change log of the DataSource `bus` belongs to, made with `setup()` by the first store that asks. */
export function changeLogOf(bus: ChangeBus, setup: () => LogSetup): ChangeLog {
  let log = logs.get(bus);
  if (!log) logs.set(bus, (log = new ChangeLog(bus, setup())));
  return log;
}
