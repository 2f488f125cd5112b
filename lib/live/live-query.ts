import { Observable } from 'rxjs';
import { LiveQueryError } from '../errors';
import type { TableRef } from '../dialect/dialect-live';
import type { PriorityOptions } from '../scheduler/priority';
import { diffRows, rowKey } from './diff';
import { DEFAULT_THROTTLE_MS, tableRef } from './options';
import { Refresher } from './refresher';
import type { LiveOptions, LiveResult } from './types';

/** What reports committed changes to tables (see watchTables). */
export interface TableWatcher {
  changed(tables: readonly TableRef[]): void;
  resync(): void;
}

/** What a live query needs from its broker. */
export interface LiveHost {
  /** Runs the query once, queued at `priority` (its events' method is `live`), and gives its rows. */
  query<T>(sql: string, parameters: readonly unknown[], priority: PriorityOptions): Promise<T[]>;
  /** The tables `sql` reads, as the database finds them, in a transaction queued at `priority`. */
  readTables(sql: string, parameters: readonly unknown[], priority: PriorityOptions): Promise<TableRef[]>;
  /** Starts hearing committed changes to `tables` (see watchTables). */
  watch(tables: readonly TableRef[], listener: TableWatcher): { positioned: Promise<void>; stop(): void };
  /** Tracks the live query so that shutdown completes it; returns the untracking. */
  track(complete: () => void): () => void;
  /** Whether the broker is shutting down (a new subscription completes at once). */
  readonly closing: boolean;
}

/**
 * The cold Observable of `broker.live()`. Per subscription: the tables the
 * query reads (the database's plan, or `tables`), a watch on them positioned
 * before the first run (so that no commit between the two is missed), the
 * first result, then a re-run whenever a committed change touches one of
 * them, emitted only when the rows differ (see Refresher for the throttle,
 * diffRows for the diff). It completes on unsubscribe, on `signal` and at
 * the broker's shutdown; it errors when a run fails or the key is not unique.
 */
export function liveQuery<T>(
  host: LiveHost,
  sql: string,
  parameters: readonly unknown[],
  options: LiveOptions<T>,
): Observable<LiveResult<T>> {
  const { niceness, doNext, doLast, signal } = options;
  const priority: PriorityOptions = { niceness, doNext, doLast };
  const key = rowKey<T>(options.key);
  const keyName = typeof options.key === 'string' ? JSON.stringify(options.key) : 'function';
  const given = options.tables?.map(tableRef);
  return new Observable<LiveResult<T>>((subscriber) => {
    if (signal?.aborted || host.closing) {
      subscriber.complete();
      return;
    }
    let ended = false;
    let previous: readonly T[] | undefined;
    const run = async (): Promise<void> => {
      try {
        const rows = await host.query<T>(sql, parameters, priority);
        if (ended) return;
        const diff = diffRows(previous, rows, key, keyName, sql);
        if (!diff) return;
        previous = rows;
        subscriber.next({ rows, diff });
      } catch (error) {
        if (!ended) subscriber.error(error);
        throw error;
      }
    };
    const refresher = new Refresher(options.throttle ?? DEFAULT_THROTTLE_MS, run);
    let stopWatch: (() => void) | undefined;
    const complete = () => subscriber.complete();
    const untrack = host.track(complete);
    signal?.addEventListener('abort', complete);
    void (async () => {
      const tables = given ?? (await host.readTables(sql, parameters, priority));
      if (ended) return;
      const watch = host.watch(tables, { changed: () => refresher.changed(), resync: () => refresher.changed() });
      stopWatch = watch.stop;
      await watch.positioned;
      if (ended) return;
      await refresher.first();
    })().catch((error: unknown) => {
      if (ended) return;
      // A capture's refusal names the table; the query is ours to name.
      if (error instanceof LiveQueryError && error.sql === '') {
        error = new LiveQueryError(error.problem, sql, error.message, { cause: error });
      }
      subscriber.error(error);
    });
    return () => {
      ended = true;
      refresher.stop();
      stopWatch?.();
      untrack();
      signal?.removeEventListener('abort', complete);
    };
  });
}
