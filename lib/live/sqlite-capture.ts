import { lastValueFrom } from 'rxjs';
import type { LiveBroker } from './live-broker';
import { DEFAULT_POLL_INTERVAL } from '../changes/data-version';
import { RETRY_MAX_MS, RETRY_MS } from '../changes/reader';
import { clock, type TimerHandle } from '../clock';
import type { TableRef } from '../dialect/dialect-live';
import { isMemory } from '../dialect/sqlite/options';
import {
  installSqliteCapture,
  LIVE_TABLES,
  READ_DATA_VERSION,
  READ_VERSIONS,
  tableVersions,
} from '../dialect/sqlite/table-capture';
import { onConnectionChange } from '../dialect/sqlite/update-hook';
import { BrokerClosedError, LiveQueryError } from '../errors';
import type { ColumnSpec } from '../schema/column';
import type { Capture, CaptureSink, CaptureStats } from './capture';
import { outsideScopes } from '../transaction/async-scope';

/** `sasync_live_tables`: a version counter per captured table (see installSqliteCapture). */
export const LIVE_TABLES_SPEC: { readonly name: string; readonly columns: readonly ColumnSpec[] } = {
  name: LIVE_TABLES,
  columns: [
    { name: 'name', type: 'text', primary: true },
    { name: 'version', type: 'bigint', nullable: false },
  ],
};

/** One captured table's share state: its name as sqlite has it, once installed. */
interface SqliteTable {
  stopped: boolean;
  name?: string;
}

/**
 * Capture on sqlite: row triggers count each table's writes in
 * `sasync_live_tables` (installSqliteCapture), and a read of the counters
 * compared with the last one says which tables changed. The counters are
 * the truth: they commit and roll back with the writes, whoever made them.
 *
 * What wakes a read: this process's writes, through node-sqlite3's
 * 'change' event on the DataSource's connection (onConnectionChange), and,
 * on a file, other connections' commits, through `PRAGMA data_version`
 * polled every DEFAULT_POLL_INTERVAL ms while anything is captured. The
 * events are only wake-ups, never counted: they come from sqlite's worker
 * thread through the event loop, possibly after the COMMIT's callback, so
 * that counting them per transaction could put them in the wrong one, and
 * a rolled-back write has them too. A read runs through the queue (one
 * statement): sqlite transactions run one at a time on the one connection,
 * so a read woken by a write in progress runs after that transaction ends,
 * and sees its commit (or its rollback). A burst of wake-ups costs one read
 * in flight and one more after it. Each read takes data_version in the
 * same statement: a poll that finds another value wakes a read, so that a
 * commit between a read and the next poll is never taken for one already
 * read.
 *
 * A failed read (the counters' table gone, a broker shut down) is tried
 * again after a backoff, with the triggers and counters made again first;
 * once one succeeds, every share resyncs (writes meanwhile may not have
 * been counted). In memory there is one connection and no other process:
 * the 'change' event alone wakes reads.
 *
 * What it costs a write while watched (measured on a 100,000-row INSERT in
 * memory): the counter's UPDATE about 1.7 µs per row, the 'change' events
 * about 3 µs per row of any table on the connection (sqlite calls the hook
 * per row, node-sqlite3 makes an event of each). Once nothing is watched
 * the events stop; the triggers stay.
 */
export class SqliteCapture implements Capture {
  readonly #sink: CaptureSink;
  readonly #keys = new Map<string, SqliteTable>();
  /** Captured tables by name, with the keys that watch them. */
  readonly #names = new Map<string, Set<string>>();
  /** Each captured table's counter at the last read (none yet: the next read sets it). */
  readonly #seen = new Map<string, number>();
  #dataVersion: number | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #lastRead = -Infinity;
  /** Ends the wait between two reads now (see #spaced); set while it waits. */
  #spacing: (() => void) | undefined;
  /** Waiting for a read that starts after they came. */
  #waiters: (() => void)[] = [];
  #off: (() => void) | undefined;
  #retry: TimerHandle | undefined;
  #retryDelay = RETRY_MS;
  #broken = false;
  #reads = 0;

  constructor(sink: CaptureSink) {
    this.#sink = sink;
  }

  async start(key: string, table: TableRef): Promise<void> {
    const state: SqliteTable = { stopped: false };
    this.#keys.set(key, state);
    if (table.schema !== undefined && table.schema !== 'main') {
      const name = `${table.schema}.${table.name}`;
      throw new LiveQueryError('unwatchable-table', '', `cannot watch ${name}: only tables of the main database are`);
    }
    const name = await this.#install(this.#needBroker(), table.name);
    if (state.stopped) return;
    state.name = name;
    const keys = this.#names.get(name) ?? new Set<string>();
    keys.add(key);
    this.#names.set(name, keys);
    this.#off ??= this.#wakeUps(this.#needBroker());
    await this.#readAfterNow();
  }

  stop(key: string): void {
    const state = this.#keys.get(key);
    if (!state) return;
    this.#keys.delete(key);
    state.stopped = true;
    const keys = state.name === undefined ? undefined : this.#names.get(state.name);
    if (keys && state.name !== undefined) {
      keys.delete(key);
      if (keys.size === 0) {
        this.#names.delete(state.name);
        this.#seen.delete(state.name);
      }
    }
    if (this.#names.size === 0) this.#quiet();
  }

  close(): void {
    for (const key of [...this.#keys.keys()]) this.stop(key);
    this.#quiet();
  }

  stats(): CaptureStats {
    return {
      tables: this.#names.size,
      groups: this.#names.size,
      reads: this.#reads,
      active: this.#off !== undefined || this.#retry !== undefined,
    };
  }

  /** Makes the counters' table, then the table's counter and triggers, in one transaction; its name as sqlite has it. */
  async #install(broker: LiveBroker, table: string): Promise<string> {
    await broker.table(LIVE_TABLES_SPEC.name, LIVE_TABLES_SPEC.columns);
    const captured = await lastValueFrom(
      broker.transact((tx) => installSqliteCapture((sql, parameters) => tx.query(sql, [...parameters]), table), {
        name: 'live: capture table changes',
        // Another process writing meanwhile: SQLITE_BUSY on the way from reading to writing.
        retry: 5,
      }),
    );
    if ('unwatchable' in captured)
      throw new LiveQueryError('unwatchable-table', '', `cannot watch ${captured.unwatchable}`);
    return captured.name;
  }

  /** What wakes reads while anything is captured; the function returned stops it. */
  #wakeUps(broker: LiveBroker): () => void {
    const unhook = onConnectionChange(broker.dataSource, (table) => {
      // The event may come in the context of the write's transaction: the read is work of its own.
      if (table === LIVE_TABLES || this.#names.has(table)) outsideScopes(() => this.#wake());
    });
    if (isMemory(broker.dataSource)) return unhook;
    let timer: TimerHandle | undefined;
    let stopped = false;
    const tick = () => {
      timer = undefined;
      const poller = this.#sink.broker();
      if (!poller) return schedule();
      lastValueFrom(poller.query(READ_DATA_VERSION, [], { name: 'live: poll data_version' }))
        .then(([row]) => {
          if (!stopped && row && this.#dataVersion !== undefined && Number(row.data_version) !== this.#dataVersion) {
            this.#wake();
          }
        })
        .catch(() => undefined)
        .finally(schedule);
    };
    // Unref'd: waiting for a change is no reason to keep a program alive.
    const schedule = () => void (!stopped && (timer = clock.setTimeout(tick, DEFAULT_POLL_INTERVAL, { unref: true })));
    schedule();
    return () => {
      stopped = true;
      unhook();
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
    };
  }

  /** Nothing captured any more: no listener, no timer. */
  /** Resolves READ_SPACING_MS after the last read began (at once if that is past), or when the capture goes quiet. */
  #spaced(): Promise<void> {
    const wait = this.#lastRead + READ_SPACING_MS - clock.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => end(), wait, { unref: true });
      const end = () => {
        clock.clearTimeout(timer);
        this.#spacing = undefined;
        resolve();
      };
      this.#spacing = end;
    });
  }

  #quiet(): void {
    this.#off?.();
    this.#off = undefined;
    if (this.#retry !== undefined) clock.clearTimeout(this.#retry);
    this.#retry = undefined;
    this.#spacing?.();
    this.#retryDelay = RETRY_MS;
    this.#broken = false;
    this.#dataVersion = undefined;
    for (const resolve of this.#waiters.splice(0)) resolve();
  }

  /** Resolves once a read that started after this call has succeeded. */
  #readAfterNow(): Promise<void> {
    const done = new Promise<void>((resolve) => this.#waiters.push(resolve));
    this.#wake();
    return done;
  }

  #wake(): void {
    if (this.#names.size === 0) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => (this.#running = undefined));
  }

  async #loop(): Promise<void> {
    let first = true;
    do {
      // Reads go ahead of queued work (doNext): behind a backlog of writes on the one connection a
      // change would be seen only once the backlog is through. Woken again at once, the next read
      // waits until READ_SPACING_MS after the last one began: no read between every two writes.
      if (!first) {
        await this.#spaced();
        if (this.#names.size === 0) return;
      }
      first = false;
      this.#lastRead = clock.now();
      this.#again = false;
      const waiters = this.#waiters.splice(0);
      const names = [...this.#names.keys()];
      const broker = this.#sink.broker();
      if (!broker || this.#retry !== undefined) {
        this.#waiters.unshift(...waiters);
        return;
      }
      let rows: Record<string, unknown>[];
      try {
        rows = await lastValueFrom(
          broker.query(READ_VERSIONS, [], { name: 'live: read table versions', doNext: true }),
          {
            defaultValue: [],
          },
        );
      } catch (error) {
        this.#waiters.unshift(...waiters);
        this.#failed(error);
        return;
      }
      this.#reads++;
      this.#compare(names, rows);
      for (const resolve of waiters) resolve();
    } while (this.#again && this.#names.size > 0);
  }

  /** Hands out the tables whose counters moved since the last read (of those captured when this read began). */
  #compare(names: readonly string[], rows: readonly Record<string, unknown>[]): void {
    const { dataVersion, versions } = tableVersions(rows);
    const changed: string[] = [];
    let missing = false;
    for (const name of names) {
      const keys = this.#names.get(name);
      if (!keys) continue; // no longer captured
      const version = versions.get(name);
      if (version === undefined) {
        missing = true;
        continue;
      }
      const seen = this.#seen.get(name);
      if (seen !== undefined && seen !== version) changed.push(...keys);
      this.#seen.set(name, version);
    }
    this.#dataVersion = dataVersion;
    if (this.#broken && !missing) {
      this.#broken = false;
      this.#retryDelay = RETRY_MS;
      this.#sink.resync();
    } else if (changed.length > 0) this.#sink.changed(changed);
    // A counter row gone (deleted by hand): its writes are not counted; make it again and resync.
    if (missing) this.#failed(new Error(`a counter of ${LIVE_TABLES} is missing`));
  }

  /**
   * A read failed or found a counter gone: try again after a backoff, the
   * counters and triggers made again first; a broker that shut down is
   * only replaced by the next one watching.
   */
  #failed(error: unknown): void {
    if (this.#names.size === 0 || this.#retry !== undefined) return;
    const closed = error instanceof BrokerClosedError;
    if (!closed) this.#broken = true;
    // A broker shut down: the next read goes through another one, if any (else this waits for stop()).
    const delay = closed ? RETRY_MS : this.#retryDelay;
    if (!closed) this.#retryDelay = Math.min(this.#retryDelay * 2, RETRY_MAX_MS);
    this.#retry = clock.setTimeout(
      () => {
        this.#retry = undefined;
        void this.#repair().then(() => this.#wake());
      },
      delay,
      { unref: true },
    );
  }

  /** Makes the counters and triggers of every captured table again (missing ones only: IF NOT EXISTS). */
  async #repair(): Promise<void> {
    const broker = this.#sink.broker();
    if (!broker || !this.#broken) return;
    try {
      for (const name of this.#names.keys()) await this.#install(broker, name);
    } catch {
      // The read after it fails too and backs off again.
    }
  }

  #needBroker(): LiveBroker {
    const broker = this.#sink.broker();
    if (!broker) throw new BrokerClosedError('the live query watcher', 'a read');
    return broker;
  }
}

/** The least time (ms) between the starts of two reads of the counters when wake-ups keep coming. */
export const READ_SPACING_MS = 20;
