import type { LiveBroker } from './live-broker';
import { guarded } from '../changes/dispatch';
import type { TableRef } from '../dialect/dialect-live';
import { quiet, tableKey, type Capture, type CaptureSink, type CaptureStats } from './capture';
import type { TableListener } from './table-listener';

/** One watchTables() call: its listener and its tables by key (each as the caller named it). */
interface Share {
  readonly listener: TableListener;
  readonly tables: ReadonlyMap<string, readonly TableRef[]>;
}

/** A table captured for one or more shares. */
interface Captured {
  refs: number;
  readonly started: Promise<void>;
}

/**
 * The one watcher of a DataSource's committed changes per table, shared by
 * every watchTables() share on it, whatever the number of brokers: each
 * table is captured once (its dialect's Capture), while at least one share
 * watches it. Reports of one turn are gathered and each share hears once
 * per turn (a resync instead of changes when both came). Statements run
 * through the first running broker among those watching, so that the
 * watcher goes on when the broker that started it shuts down.
 */
export class TableWatcher {
  readonly #capture: Capture;
  /** The brokers watching, each with its number of shares, in the order they came. */
  readonly #brokers = new Map<LiveBroker, number>();
  readonly #tables = new Map<string, Captured>();
  readonly #shares = new Set<Share>();
  #changed = new Set<string>();
  #resync: Set<string> | 'all' | undefined;
  #flushQueued = false;
  #closed = false;

  constructor(capture: (sink: CaptureSink) => Capture) {
    this.#capture = capture({
      broker: () => this.#broker(),
      changed: (keys) => {
        for (const key of keys) this.#changed.add(key);
        this.#queueFlush();
      },
      resync: (keys) => {
        if (keys === undefined) this.#resync = 'all';
        else if (this.#resync !== 'all') {
          const set = this.#resync ?? new Set<string>();
          for (const key of keys) set.add(key);
          this.#resync = set;
        }
        this.#queueFlush();
      },
    });
  }

  /** Starts one share: see watchTables. */
  watch(
    broker: LiveBroker,
    tables: readonly TableRef[],
    listener: TableListener,
  ): { positioned: Promise<void>; stop(): void } {
    if (this.#closed)
      return { positioned: Promise.reject(new Error('the DataSource is closed')), stop: () => undefined };
    const byKey = new Map<string, TableRef[]>();
    for (const t of tables) {
      const key = tableKey(t);
      const list = byKey.get(key);
      if (list) list.push(t);
      else byKey.set(key, [t]);
    }
    const share: Share = { listener, tables: byKey };
    this.#brokers.set(broker, (this.#brokers.get(broker) ?? 0) + 1);
    this.#shares.add(share);
    const started: Promise<void>[] = [];
    for (const [key, refs] of byKey) {
      let captured = this.#tables.get(key);
      if (!captured) {
        captured = { refs: 0, started: this.#capture.start(key, refs[0]!) };
        quiet(captured.started);
        this.#tables.set(key, captured);
      }
      captured.refs++;
      started.push(captured.started);
    }
    let stopped = false;
    const stop = () => {
      if (stopped || this.#closed) return;
      stopped = true;
      this.#shares.delete(share);
      for (const key of byKey.keys()) {
        const captured = this.#tables.get(key);
        if (!captured || --captured.refs > 0) continue;
        this.#tables.delete(key);
        this.#capture.stop(key);
      }
      const left = (this.#brokers.get(broker) ?? 1) - 1;
      if (left > 0) this.#brokers.set(broker, left);
      else this.#brokers.delete(broker);
    };
    return { positioned: Promise.all(started).then(() => undefined), stop };
  }

  /** The DataSource closes: nothing is captured or reported any more. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#capture.close();
    this.#shares.clear();
    this.#tables.clear();
    this.#brokers.clear();
  }

  stats(): CaptureStats & { readonly shares: number } {
    return { ...this.#capture.stats(), shares: this.#shares.size };
  }

  #broker(): LiveBroker | undefined {
    let first: LiveBroker | undefined;
    for (const broker of this.#brokers.keys()) {
      if (broker.running) return broker;
      first ??= broker;
    }
    return first;
  }

  #queueFlush(): void {
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  /** Tells each share once what this turn's reads found about its tables. */
  #flush(): void {
    this.#flushQueued = false;
    const changed = this.#changed;
    const resync = this.#resync;
    this.#changed = new Set();
    this.#resync = undefined;
    for (const share of [...this.#shares]) {
      // Stopped by an earlier share's listener meanwhile: it hears nothing more.
      if (!this.#shares.has(share)) continue;
      const keys = [...share.tables.keys()];
      if (resync === 'all' || keys.some((k) => resync?.has(k))) {
        guarded(() => share.listener.resync());
        continue;
      }
      const tables = keys.filter((k) => changed.has(k)).flatMap((k) => share.tables.get(k)!);
      if (tables.length > 0) guarded(() => share.listener.changed(tables));
    }
  }
}
