import { randomUUID } from 'node:crypto';
import { lastValueFrom } from 'rxjs';
import type { LiveBroker } from './live-broker';
import { changeLogOf, type ChangeLog } from '../changes/change-log';
import type { LogListener } from '../changes/listener';
import { CHANGES_TABLE } from '../changes/log-table';
import type { ReaderHost } from '../changes/reader';
import { DEFAULT_RETENTION } from '../changes/retention';
import type { ChangeBus } from '../dialect';
import type { TableRef } from '../dialect/dialect-live';
import { installPgCapture } from '../dialect/postgres/table-capture';
import { BrokerClosedError, LiveQueryError } from '../errors';
import { storeChannel } from '../stores/channel';
import type { Statement } from '../stores/statement';
import type { Capture, CaptureSink, CaptureStats } from './capture';

/** The `kind` of the entries capture triggers append: no store table has it. */
export const TABLE_KIND = '#table';

/** One captured table: the registrations of its groups with the change log reader. */
interface PgTable {
  stopped: boolean;
  readonly stops: (() => void)[];
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
  #log: ChangeLog | undefined;

  constructor(bus: ChangeBus, sink: CaptureSink) {
    this.#bus = bus;
    this.#sink = sink;
  }

  async start(key: string, table: TableRef): Promise<void> {
    const state: PgTable = { stopped: false, stops: [] };
    this.#tables.set(key, state);
    const broker = this.#needBroker();
    const log = this.#logOf(broker);
    await broker.table(CHANGES_TABLE.name, CHANGES_TABLE.columns, CHANGES_TABLE.options);
    const captured = await lastValueFrom(
      broker.transact(
        (tx) =>
          installPgCapture((sql, parameters) => tx.query(sql, [...parameters]), table, {
            table: CHANGES_TABLE.name,
            channel: log.channel,
            kind: TABLE_KIND,
          }),
        { name: 'live: capture table changes', retry: 3 },
      ),
    );
    if ('unwatchable' in captured) {
      throw new LiveQueryError('unwatchable-table', '', `cannot watch ${captured.unwatchable}`);
    }
    if (state.stopped) return;
    const positioned: Promise<void>[] = [];
    for (const group of captured.groups) {
      const listener: LogListener = {
        kind: TABLE_KIND,
        groupId: group,
        origin: this.#origin,
        keys: () => !state.stopped && this.#sink.changed([key]),
        group: () => !state.stopped && this.#sink.changed([key]),
        resync: () => !state.stopped && this.#sink.resync([key]),
      };
      const listening = log.listen(listener, this.#host());
      state.stops.push(listening.stop);
      positioned.push(listening.positioned);
    }
    await Promise.all(positioned);
  }

  stop(key: string): void {
    const state = this.#tables.get(key);
    if (!state) return;
    this.#tables.delete(key);
    state.stopped = true;
    for (const stop of state.stops.splice(0)) stop();
  }

  close(): void {
    for (const key of [...this.#tables.keys()]) this.stop(key);
  }

  stats(): CaptureStats {
    return {
      tables: this.#tables.size,
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

  async #read<T>(statement: Statement): Promise<T[]> {
    const broker = this.#needBroker();
    const rows = await lastValueFrom(
      broker.query(statement.sql, statement.parameters, { name: 'live: read the change log', route: 'primary' }),
      { defaultValue: [] },
    );
    return rows as T[];
  }

  #needBroker(): LiveBroker {
    const broker = this.#sink.broker();
    if (!broker) throw new BrokerClosedError('the live query watcher', 'a read');
    return broker;
  }
}
