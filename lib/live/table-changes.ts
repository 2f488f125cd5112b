import { asyncScheduler } from 'rxjs';
import type { LiveBroker } from './live-broker';
import { busAccess } from '../broker/store-access';
import type { BusOptions, ChangeBus } from '../dialect';
import type { TableRef } from '../dialect/dialect-live';
import type { Capture, CaptureSink, CaptureStats } from './capture';
import { PostgresCapture } from './postgres-capture';
import { SqliteCapture } from './sqlite-capture';
import type { TableListener } from './table-listener';
import { TableWatcher } from './table-watcher';
import { outsideScopes } from '../transaction/async-scope';

export type { TableListener } from './table-listener';

/** The change bus as stores open it by default (the first user of a DataSource's bus sets its options). */
const BUS_OPTIONS: BusOptions = { scheduler: asyncScheduler, initialDelay: 100, maxDelay: 5000 };

const CAPTURES: Record<LiveBroker['dialect'], (bus: ChangeBus, sink: CaptureSink) => Capture> = {
  postgres: (bus, sink) => new PostgresCapture(bus, sink),
  sqlite: (_bus, sink) => new SqliteCapture(sink),
};

/** The watchers, one per DataSource, keyed by its change bus (which closes with it). */
const watchers = new WeakMap<ChangeBus, TableWatcher>();

/**
 * Starts reporting committed changes to `tables` (installing what captures
 * them on first use): `listener.changed` is called after each commit that
 * may have touched some of them (by this process, another one, or a
 * program outside sasync), with those tables; several commits may be
 * reported at once, and a report may come for a commit that changed
 * nothing in the end (a statement that wrote no row, a table written and
 * written back), never none for one that did. `listener.resync` says
 * changes may have been missed (see LogListener.resync).
 *
 * `positioned` resolves once every commit after that moment will be
 * reported (capture installed, the reader positioned), and rejects if the
 * broker cannot start or capture cannot be installed (LiveQueryError
 * 'unwatchable-table' for a view, a virtual or foreign table, or no table
 * of that name; the database's error for others, such as a role that may
 * not create triggers). `stop` releases this share (call it on rejection
 * too; calling it again does nothing): the last share of a table stops
 * listening to it, and the last one of all leaves no listener, connection
 * or timer behind (the triggers stay: see installPgCapture and
 * installSqliteCapture for what they cost a write).
 *
 * One watcher per DataSource serves every broker and share on it, and runs
 * its statements through a broker still watching (the one that started it
 * may shut down while others watch), as work of their own: never in the
 * transaction of the code that called watchTables. It keeps nothing that would hold the
 * DataSource open; it stops with the DataSource's bus.
 *
 * ```ts
 * const { positioned, stop } = watchTables(broker, [{ name: 'orders' }], {
 *   changed: (tables) => console.log('changed', tables),
 *   resync: () => console.log('re-read everything'),
 * });
 * await positioned;
 * // … later
 * stop();
 * ```
 */
export function watchTables(
  broker: LiveBroker,
  tables: readonly TableRef[],
  listener: TableListener,
): { positioned: Promise<void>; stop(): void } {
  let stopped = false;
  let release: (() => void) | undefined;
  const positioned = outsideScopes(() =>
    watcherOf(broker).then((watcher) => {
      if (stopped) return;
      const share = watcher.watch(broker, tables, listener);
      release = share.stop;
      return share.positioned;
    }),
  );
  // The caller handles it; unhandled here it would crash a program that stopped first.
  positioned.catch(() => undefined);
  return {
    positioned,
    stop() {
      stopped = true;
      release?.();
      release = undefined;
    },
  };
}

/** What the watcher of a broker's DataSource holds now, for specs and benches (undefined: none yet). */
export async function watcherStats(
  broker: LiveBroker,
): Promise<(CaptureStats & { readonly shares: number }) | undefined> {
  const bus = await busOf(broker);
  return watchers.get(bus)?.stats();
}

async function watcherOf(broker: LiveBroker): Promise<TableWatcher> {
  const bus = await busOf(broker);
  let watcher = watchers.get(bus);
  if (!watcher) {
    const made = new TableWatcher((sink) => CAPTURES[broker.dialect](bus, sink));
    watchers.set(bus, made);
    // Closed with the DataSource: nothing left listening or polling.
    const unwatch = bus.onState((state) => {
      if (state !== 'closed') return;
      unwatch();
      made.close();
    });
    watcher = made;
  }
  return watcher;
}

async function busOf(broker: LiveBroker): Promise<ChangeBus> {
  await broker.waitUntilRunning();
  return broker[busAccess](BUS_OPTIONS);
}
