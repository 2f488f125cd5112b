import { randomUUID } from 'node:crypto';
import { lastValueFrom, type SchedulerLike } from 'rxjs';
import { storeAccess } from '../broker/store-access';
import type { ChangeBus } from '../dialect';
import { BrokerClosedError, SerializationError } from '../errors';
import type { DatabaseTarget } from '../target';
import { storeChannel } from './channel';
import { listenToGroup, type GroupListener } from './group-listener';
import { groupText, keyFromText, keyText, type NameType } from './keys';
import { encodeNotice, type Notice } from './notice';
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

/** What one write transaction does, and what it announces. */
export interface StoreWrite {
  readonly statements: readonly Statement[];
  /** Keys written (as stored), or undefined when nothing was. */
  readonly notice: Omit<Notice, 'g' | 'o'> | undefined;
}

/**
 * One group of a store table on its own broker: reads, write transactions
 * that announce what they changed, listening to what other stores announce,
 * keys and values in and out of text. Items, PersistentDict and
 * PersistentArray are built on it; its broker is released by
 * {@link shutdown}.
 */
export class StoreGroup {
  /** The group id as stored. */
  readonly group: string;
  /** `PersistentDict("prefs")`, for messages. */
  readonly label: string;
  readonly #broker: StoreBroker;
  readonly #table: StoreTable;
  readonly #options: Settled;
  readonly #placeholder: (n: number) => string;
  /** Tells this group's own notices from other stores'. */
  readonly #origin = randomUUID();
  readonly #bus: Promise<ChangeBus>;
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
    this.#table = table;
    this.group = groupText(groupId);
    this.#options = settle(options);
    this.label = `${kind}(${JSON.stringify(this.group)})`;
    this.#broker = new StoreBroker(table, target, this.label);
    const access = this.#broker[storeAccess]();
    this.#placeholder = access.placeholder;
    const { scheduler, initialDelay, maxDelay } = this.#options;
    this.#bus = this.#broker.waitUntilRunning().then(() => access.bus({ scheduler, initialDelay, maxDelay }));
    this.#bus.catch(() => undefined);
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

  /** Runs a read at ordinary priority; resolves with its rows. */
  read<T>(statement: Statement): Promise<T[]> {
    return lastValueFrom(this.#broker.query<T>(statement.sql, statement.parameters), { defaultValue: [] });
  }

  /**
   * Runs `build()`'s statements in one transaction at the write niceness,
   * announcing the keys on the table's channel; `build` is called when the
   * transaction starts.
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
    const bus = await this.#bus;
    const channel = this.#channel();
    let payload: string | undefined;
    await lastValueFrom(
      this.#broker.transact(
        async (tx) => {
          // Called again on each retry: it returns the same statements.
          const { statements, notice } = build();
          // On postgres sent together: they go out in one round trip (the first to fail is the error).
          if (this.#broker.dialect === 'postgres')
            await Promise.all(statements.map(({ sql, parameters }) => tx.query(sql, parameters)));
          else for (const { sql, parameters } of statements) await tx.query(sql, parameters);
          if (notice) {
            payload = encodeNotice({ g: this.group, o: this.#origin, ...notice });
            await bus.announce(tx.queryRunner!, channel, payload);
          }
        },
        { niceness: this.#options.writeNiceness, name: 'write', retry: WRITE_RETRIES },
      ),
      { defaultValue: undefined },
    );
    if (payload !== undefined) bus.committed(channel, payload);
  }

  /**
   * Tells `listener` what other stores announce about this group, once the
   * bus is open; returns the function that stops listening.
   */
  listen(listener: GroupListener): () => void {
    const source = { bus: this.#bus, channel: () => this.#channel(), group: this.group, origin: this.#origin };
    return listenToGroup(source, listener);
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

  /** The channel of this group's table (once running): see storeChannel. */
  #channel(): string {
    return storeChannel(this.#table.name, this.#broker.dataSource.options);
  }
}
