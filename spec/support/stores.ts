import { asyncScheduler, filter, firstValueFrom, lastValueFrom, type Observable } from 'rxjs';
import { AccessBroker, type Change, type DatabaseTarget } from '../../lib';
import { storeAccess } from '../../lib/broker/store-access';
import type { BusState, ChangeBus } from '../../lib/dialect';
import { CHANGES_TABLE } from '../../lib/changes/log-table';
import { ARRAY_TABLE, ITEMS_TABLE, type StoreTable } from '../../lib/stores/tables';
import { within } from './streams';
import { ph, uniqueName } from './targets';

/** Makes the store tables, as the stores would, so that rows can be written first. */
class RawBroker extends AccessBroker {
  protected override async startup(): Promise<void> {
    for (const t of [ITEMS_TABLE, ARRAY_TABLE]) await this.table(t.name, t.columns, t.options);
  }
}

/**
 * A plain broker for reading and writing store tables directly with SQL,
 * behind the stores' backs. Shut it down after the stores (on sqlite in
 * memory it keeps the database alive).
 */
export class RawSql {
  readonly broker: AccessBroker;

  constructor(target: DatabaseTarget) {
    this.broker = new RawBroker(target, { name: 'RawSql' });
  }

  get dialect(): 'sqlite' | 'postgres' {
    return this.broker.dialect;
  }

  /** `?` placeholders, rewritten for the dialect. */
  async query<T = Record<string, unknown>>(sql: string, parameters: unknown[] = []): Promise<T[]> {
    await this.broker.waitUntilRunning();
    let n = 0;
    const text = sql.replace(/\?/g, () => ph(this.broker.dialect, ++n));
    return lastValueFrom(this.broker.query<T>(text, parameters));
  }

  /**
   * The change bus of this DataSource, which the stores on the same target
   * share: a notice it delivers reaches every one of them at once.
   */
  async bus(): Promise<ChangeBus> {
    await this.broker.waitUntilRunning();
    return this.broker[storeAccess]().bus({ scheduler: asyncScheduler, initialDelay: 100, maxDelay: 5000 });
  }

  /** The stored rows of a group of sasync_items, name → value text. */
  items(group: string): Promise<Map<string, string>> {
    return storedRows(this.broker, group);
  }

  shutdown(): Promise<void> {
    return this.broker.shutdown();
  }
}

/** The rows of a group in `sasync_items`, name → stored text, read with plain SQL through any broker. */
export async function storedRows(b: AccessBroker, group: string): Promise<Map<string, string>> {
  const rows = await lastValueFrom(
    b.query<{ name: string; value: string }>(
      `SELECT name, value FROM ${ITEMS_TABLE.name} WHERE group_id = ${ph(b.dialect, 1)}`,
      [group],
    ),
  );
  return new Map(rows.map((r) => [r.name, r.value]));
}

/** How many rows a group has in a store table, read with plain SQL through any broker. */
export async function storedCount(b: AccessBroker, group: string, table: StoreTable = ITEMS_TABLE): Promise<number> {
  const rows = await lastValueFrom(
    b.query<{ n: number | string }>(`SELECT count(*) AS n FROM ${table.name} WHERE group_id = ${ph(b.dialect, 1)}`, [
      group,
    ]),
  );
  return Number(rows[0]!.n);
}

/**
 * The first change from now on that `match`es: call it before the write
 * that causes the change, and await it after with within() (a timer
 * started here would count the write's own time, another process starting
 * up, say). Rejects if the stream completes first.
 */
export function nextChange<K, V>(
  changes: Observable<Change<K, V>>,
  match: (change: Change<K, V>) => boolean,
): Promise<Change<K, V>> {
  const next = firstValueFrom(changes.pipe(filter(match)));
  // Awaited later; a failure before then is reported there, not as unhandled.
  next.catch(() => undefined);
  return next;
}

/**
 * Subscribes to `values` now; `first` resolves with its first value, and
 * `seen` holds every value until `unsubscribe()`.
 */
export function recorder<T>(values: Observable<T>): { seen: T[]; first: Promise<T>; unsubscribe(): void } {
  const seen: T[] = [];
  let resolveFirst!: (value: T) => void;
  let rejectFirst!: (error: unknown) => void;
  const first = new Promise<T>((resolve, reject) => {
    resolveFirst = resolve;
    rejectFirst = reject;
  });
  first.catch(() => undefined);
  const subscription = values.subscribe({
    next: (value) => {
      if (seen.push(value) === 1) resolveFirst(value);
    },
    error: (error: unknown) => rejectFirst(error),
    complete: () => rejectFirst(new Error('completed before its first value')),
  });
  return { seen, first: within(first, 'the first value'), unsubscribe: () => subscription.unsubscribe() };
}

/** Resolves once `bus` is in `state` (at once if it is): call it before what changes the state, await it after. */
export function busState(bus: ChangeBus, state: BusState): Promise<void> {
  const reached = within(
    new Promise<void>((resolve) => {
      if (bus.state === state) return resolve();
      const stop = bus.onState((next) => {
        if (next !== state) return;
        stop();
        resolve();
      });
    }),
    `the bus ${state}`,
  );
  reached.catch(() => undefined);
  return reached;
}

/** Resolves once `bus` is listening (at once if it is). */
export function listening(bus: ChangeBus): Promise<void> {
  return busState(bus, 'listening');
}

/**
 * Resolves once `bus` has delivered a notice about `group` on `table`'s
 * channel (to this listener, and so to the stores listening beside it), or a
 * resync (its connection dropped and came back: notices may have been lost,
 * and every store listening re-reads all it holds, which is what a notice
 * would have started): call it before the write that announces, await it after.
 */
export function nextNotice(bus: ChangeBus, group: string, table: string = ITEMS_TABLE.name): Promise<void> {
  const heard = within(
    new Promise<void>((resolve) => {
      const stop = bus.listen(table, {
        notice: (payload) => {
          // The change log's wake-ups share the bus and carry a token, not JSON: not ours.
          let about: unknown;
          try {
            about = (JSON.parse(payload) as { g?: unknown } | null)?.g;
          } catch {
            return;
          }
          if (about !== group) return;
          stop();
          resolve();
        },
        resync: () => {
          stop();
          resolve();
        },
      });
    }),
    `a notice about ${group}`,
  );
  heard.catch(() => undefined);
  return heard;
}

/**
 * Resolves once every notice committed on `table`'s channel before the call
 * has been delivered on each of `buses` (so the stores listening there have
 * started what it asks): a sentinel sent now is delivered after them. The
 * default is the change log's channel, which the stores listen on (a
 * channel nobody listens on yet would be LISTENed to only after the
 * sentinel may have gone out, and it would be lost).
 */
export async function noticesDelivered(raw: RawSql, buses: readonly ChangeBus[], table = CHANGES_TABLE.name) {
  const sentinel = uniqueName('sentinel');
  const payload = JSON.stringify({ g: sentinel, o: 'spec' });
  const heard = buses.map((bus) => nextNotice(bus, sentinel, table));
  if (raw.dialect === 'postgres') await raw.query('SELECT pg_notify(?, ?)', [table, payload]);
  // sqlite: each bus delivers within this process only.
  else for (const bus of buses) bus.committed(table, payload);
  await Promise.all(heard);
}
