import { randomUUID } from 'node:crypto';
import { lastValueFrom, type SchedulerLike } from 'rxjs';
import { storeAccess } from '../broker/store-access';
import type { ChangeBus } from '../dialect';
import { BrokerClosedError, SerializationError, TransactionError } from '../errors';
import type { DatabaseTarget } from '../target';
import { changeLogOf, type ChangeLog, type PruneHost } from '../changes/change-log';
import { boundedEntries, type ChangeEntry } from '../changes/entry';
import { appendStatement } from '../changes/log-sql';
import { sharedReadsOf } from './shared-reads';
import { CHANGES_TABLE } from '../changes/log-table';
import type { Position } from '../changes/position';
import type { ReaderHost } from '../changes/reader';
import { parseSavedPosition } from '../changes/saved-position';
import { clock } from '../clock';
import { storeChannel } from './channel';
import { listenToGroup, type GroupListener } from './group-listener';
import { groupText, keyFromText, keyText, type NameType } from './keys';
import { encodingFailed } from './serializer';
import type { Statement } from './statement';
import { StoreBroker } from './store-broker';
import { settle, type DictOptions, type Settled } from './store-options';
import type { StoreTable } from './tables';

/**
 * Re-runs of a write transaction that failed with a deadlock or a
 * serialization failure (SQLITE_BUSY on sqlite) before its writes fail.
 * Writes take their keys in one order, so stores do not deadlock each other;
 * this covers what is left (a clear, other writers of the table).
 */
export const WRITE_RETRIES = 8;

/** What one write transaction does, and what it logs. */
export interface StoreWrite {
  readonly statements: readonly Statement[];
  /** What it changes (keys as stored), appended to the change log in the same transaction; empty: nothing. */
  readonly changes: readonly ChangeEntry[];
}

/**
 * One group of a store table on its own broker: reads, write transactions
 * that log what they changed (lib/changes/), listening to what other stores
 * logged, keys and values in and out of text. Items, PersistentDict and
 * PersistentArray are built on it; its broker is released by
 * {@link shutdown}.
 */
export class StoreGroup {
  /** The group id as stored. */
  readonly group: string;
  /** `PersistentDict("prefs")`, for messages. */
  readonly label: string;
  readonly #broker: StoreBroker;
  readonly #options: Settled;
  readonly #placeholder: (n: number) => string;
  /** Tells this group's own log entries from other stores'. */
  readonly #origin = randomUUID();
  readonly #bus: Promise<ChangeBus>;
  readonly #log: Promise<ChangeLog>;
  readonly #kind: string;
  /** Where to start hearing other stores' changes (the `since` option), or undefined: from now. */
  readonly #since: Position | undefined;
  #closed = false;
  readonly #writes = new Set<Promise<void>>();
  #shutdown: Promise<void> | undefined;

  constructor(
    kind: string,
    groupId: unknown,
    target: DatabaseTarget | undefined,
    options: DictOptions | undefined,
    table: StoreTable,
  ) {
    this.group = groupText(groupId);
    this.#options = settle(options);
    this.label = `${kind}(${JSON.stringify(this.group)})`;
    this.#broker = new StoreBroker(table, target, this.label);
    const { since } = this.#options;
    this.#since = since === undefined ? undefined : parseSavedPosition(since, this.#broker.dialect);
    const access = this.#broker[storeAccess]();
    this.#placeholder = access.placeholder;
    const { scheduler, initialDelay, maxDelay } = this.#options;
    this.#kind = table.name;
    this.#bus = this.#broker.waitUntilRunning().then(() => access.bus({ scheduler, initialDelay, maxDelay }));
    this.#bus.catch(() => undefined);
    this.#log = this.#bus.then((bus) =>
      changeLogOf(bus, () => ({
        dialect: this.#broker.dialect,
        channel: storeChannel(CHANGES_TABLE.name, this.#broker.dataSource.options),
        pollInterval: this.#crossProcess() ? this.#options.pollInterval : 0,
        retention: this.#options.retention,
      })),
    );
    this.#log.catch(() => undefined);
  }

  /**
   * Whether other processes' commits are noticed by polling `PRAGMA
   * data_version`: a sqlite file (not in memory, where no other process
   * writes; never postgres, where NOTIFY wakes the reader and the PRAGMA is
   * a syntax error).
   */
  #crossProcess(): boolean {
    const { options } = this.#broker.dataSource;
    return options.type === 'sqlite' && options.database !== ':memory:';
  }

  waitUntilRunning(): Promise<void> {
    return this.#broker.waitUntilRunning();
  }

  /** The database's n-th (1-based) bound-parameter placeholder. */
  placeholder(n: number): string {
    return this.#placeholder(n);
  }

  /** The store's scheduler option (default asyncScheduler). */
  get scheduler(): SchedulerLike {
    return this.#options.scheduler;
  }

  /** @throws BrokerClosedError after shutdown. */
  assertOpen(what: string): void {
    if (this.#closed) throw new BrokerClosedError(this.label, what);
  }

  /** A key as stored. @throws InvalidKeyError */
  key(key: unknown): string {
    return keyText(key, this.#options.nameType, this.group);
  }

  /** A stored name read back as a key of the store's name type. */
  keyOf<K>(text: string): K {
    return keyFromText(text, this.#options.nameType as NameType) as K;
  }

  /** Encodes before anything is written. @throws SerializationError */
  encode(value: unknown): string {
    let text: unknown;
    try {
      text = this.#options.serializer.encode(value);
    } catch (cause) {
      throw encodingFailed(cause);
    }
    if (typeof text !== 'string') {
      throw new SerializationError(
        `the serializer of ${this.label} returned ${typeof text}, not text: fix its encode(); nothing was written`,
      );
    }
    return text;
  }

  /** @throws SerializationError naming the group and key for a value that cannot be read back. */
  decode(name: string, text: string): unknown {
    try {
      return this.#options.serializer.decode(text);
    } catch (cause) {
      throw new SerializationError(
        `the stored value of key ${JSON.stringify(name)} in group ${JSON.stringify(this.group)} cannot be read ` +
          `(${cause instanceof Error ? cause.message : String(cause)}): it was not written by this store's ` +
          'serializer. Overwrite it with set() or delete it.',
        { cause, path: name },
      );
    }
  }

  /**
   * Runs a read at ordinary priority; resolves with its rows. A listening
   * group reads only once the change log reader has its position, so that
   * whatever commits after the read is delivered (see ChangeReader.register).
   */
  async read<T>(statement: Statement): Promise<T[]> {
    if (this.#positioned) await this.#positioned;
    // Other stores on this DataSource reading the same rows now share the query (see SharedReads).
    return sharedReadsOf(this.#broker.dataSource).run(statement, (s) => this.#query<T>(s));
  }

  /**
   * A read on the primary, also on a replicated target (the broker routes its
   * other calls): the change log's reader positions the stores' reads in the
   * primary's snapshots, and a replica behind that position would miss
   * changes (the log's LISTEN is the primary's too).
   */
  #query<T>(statement: Statement): Promise<T[]> {
    return lastValueFrom(this.#broker.query<T>(statement.sql, statement.parameters, { route: 'primary' }), {
      defaultValue: [],
    });
  }

  /**
   * Runs `build()`'s statements in one transaction at the write niceness,
   * appending its changes to the change log in the same transaction (and,
   * on postgres, a NOTIFY that wakes other processes' readers); `build` is
   * called when the transaction starts.
   */
  write(build: () => StoreWrite): Promise<void> {
    // Counted until it settles: shutdown() waits for writes already started
    // (they wait for the bus first, and must not meet a closed broker).
    const written = this.#write(build);
    this.#writes.add(written);
    const untrack = () => void this.#writes.delete(written);
    written.then(untrack, untrack);
    return written;
  }

  async #write(build: () => StoreWrite): Promise<void> {
    const log = await this.#log;
    try {
      await this.#transact(log, build);
    } catch (error) {
      // The log table dropped by someone: made again, the write is tried once more (see #logMade).
      const code = error instanceof TransactionError ? error.code : undefined;
      if (code !== log.dialect.missingTableCode || !(await this.#logMade())) throw error;
      await this.#transact(log, build);
    }
  }

  /** One write transaction (with its retries), its entries appended; then the log hears it committed. */
  async #transact(log: ChangeLog, build: () => StoreWrite): Promise<void> {
    let logged = false;
    await lastValueFrom(
      this.#broker.transact(
        async (tx) => {
          // Called again on each retry: it returns the same statements.
          const { statements, changes } = build();
          const all = [...statements];
          if (changes.length > 0) {
            const meta = { kind: this.#kind, grp: this.group, origin: this.#origin, at: clock.now() };
            all.push(appendStatement(log.dialect, (n) => this.#placeholder(n), meta, boundedEntries(changes)));
            // A wake-up for other processes' readers, delivered on COMMIT. Its payload is only this
            // DataSource's token, so that its own reader can pass it over (see ChangeLog.token).
            if (this.#broker.dialect === 'postgres')
              all.push({ sql: 'SELECT pg_notify($1, $2)', parameters: [log.channel, log.token] });
          }
          logged = changes.length > 0;
          // On postgres sent together: they go out in one round trip. The error is
          // the first failed statement's in order (those after it only say the
          // transaction is aborted, and may be answered first).
          if (this.#broker.dialect === 'postgres') {
            const settled = await Promise.allSettled(all.map(({ sql, parameters }) => tx.query(sql, parameters)));
            const failed = settled.find((r) => r.status === 'rejected');
            if (failed) throw failed.reason;
          } else for (const { sql, parameters } of all) await tx.query(sql, parameters);
        },
        { niceness: this.#options.writeNiceness, name: 'write', retry: WRITE_RETRIES },
      ),
      { defaultValue: undefined },
    );
    if (logged) log.committed(this.#pruneHost(), this.#kind, this.group, this.#origin);
  }

  /**
   * After a failed write: whether the change log table was missing (someone
   * dropped it) and has been made again. A store's writes are its user's
   * data and the log only sasync's bookkeeping, so a write does not fail
   * for want of it: the readers, which find the log made again, resync
   * ('log-lost'), and the retried write's entry is in the new log. False
   * when the log is there (the write failed for another reason, which it
   * reports) or cannot be made (the database is unreachable: the same).
   */
  async #logMade(): Promise<boolean> {
    try {
      await this.#query({ sql: `SELECT 1 FROM ${CHANGES_TABLE.name} WHERE 1 = 0`, parameters: [] });
      return false;
    } catch {
      try {
        await this.#broker.ensureLog();
        return true;
      } catch {
        return false;
      }
    }
  }

  /** What the log prunes with: a short transaction of this group's broker, at the write niceness. */
  #pruneHost(): PruneHost {
    return {
      placeholder: (n) => this.#placeholder(n),
      transact: (work) =>
        lastValueFrom(
          this.#broker.transact((tx) => work((s) => tx.query(s.sql, s.parameters)), {
            niceness: this.#options.writeNiceness,
            name: 'prune change log',
          }),
          { defaultValue: undefined },
        ).then(() => undefined),
    };
  }

  /** Prunes the change log now (retention.ts); resolves with how many entries went. */
  async pruneLog(): Promise<number> {
    return (await this.#log).prune(this.#pruneHost());
  }

  /** The DataSource's change log reader, once open (for specs and benches). */
  async changeLog(): Promise<ChangeLog> {
    return this.#log;
  }

  /**
   * Tells `listener` what other stores logged about this group, once the
   * change log is open; returns the function that stops listening. From
   * now on reads wait until the log's reader has its position.
   */
  listen(listener: GroupListener): () => void {
    const host: ReaderHost = {
      read: (statement) => this.#query(statement),
      ensureLog: () => this.#broker.ensureLog(),
    };
    const since = this.#since;
    const source = { log: this.#log, kind: this.#kind, group: this.group, origin: this.#origin, host, since };
    const { stop, positioned } = listenToGroup(source, listener);
    this.#positioned = positioned;
    if (since) {
      this.#catchingUp = true;
      void positioned.then(() => (this.#catchingUp = false));
    }
    return stop;
  }

  /** Set while listening: reads wait for it (see read). */
  #positioned: Promise<void> | undefined;
  #catchingUp = false;

  /**
   * Whether the group is being told what was committed since its `since`
   * position (until then, a group-wide entry means: report every key found,
   * as memory knew nothing then).
   */
  get catchingUp(): boolean {
    return this.#catchingUp;
  }

  /**
   * The change log reader's position once it has read everything committed
   * before the call and handed it out (see ChangeLog.savedPosition).
   * @throws ChangeLogUnreadableError when the log cannot be read.
   */
  async position(): Promise<string> {
    if (this.#positioned) await this.#positioned;
    const log = await this.#log;
    await log.reader.caughtUp();
    const text = log.savedPosition();
    if (text === undefined) {
      throw new BrokerClosedError(this.label, 'position() (the store no longer listens to the change log)');
    }
    return text;
  }

  /**
   * Refuses new calls at once, runs `beforeClose` (a store flushes its
   * writes there), waits for writes already started, then shuts the broker
   * down. Calling it again returns the same Promise (beforeClose runs once).
   */
  shutdown(beforeClose?: () => Promise<void>): Promise<void> {
    this.#shutdown ??= this.#close(beforeClose);
    return this.#shutdown;
  }

  async #close(beforeClose: (() => Promise<void>) | undefined): Promise<void> {
    this.#closed = true;
    try {
      await beforeClose?.();
      await Promise.allSettled([...this.#writes]);
    } finally {
      await this.#broker.shutdown();
    }
  }
}
