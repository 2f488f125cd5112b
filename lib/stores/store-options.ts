import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { DEFAULT_POLL_INTERVAL } from '../changes/data-version';
import { settleRetention, type Retention, type RetentionOptions } from '../changes/retention';
import { checkPriority } from '../scheduler/priority';
import type { NameType } from './keys';
import { devalueSerializer, type Serializer } from './serializer';

/** sAsync's NICENESS_WRITE: lazy writes yield to reads and ordinary transactions. */
export const NICENESS_WRITE = 6;

/** Options of every store. */
export interface StoreOptions {
  /** How values become text and back (default: devalue, see serializer.ts). */
  readonly serializer?: Serializer;
  /** Niceness of the store's write transactions (default 6, as in sAsync). */
  readonly writeNiceness?: number;
  /**
   * The change log shared by every store on a DataSource (the first store
   * on it sets these for all): how long entries are kept, and how often a
   * sqlite file is polled for other processes' commits.
   */
  readonly changeLog?: ChangeLogOptions;
  /**
   * A position a PersistentDict or PersistentArray saved earlier (its
   * `position()`), on this database (Items, which does not listen, only
   * checks it): the store is first told, as remote changes (`changes$`,
   * origin 'remote', values read from the table), what other stores
   * committed after it; a 'resync' when those entries were pruned (older
   * than the retention) or the log was emptied since. Without it, a store
   * hears what is committed from its start on.
   * @throws TypeError at construction for text that is no position,
   *   RangeError for a position of the other database kind.
   */
  readonly since?: string;
}

/** Settings of the change log (see {@link StoreOptions.changeLog}). */
export interface ChangeLogOptions extends RetentionOptions {
  /** sqlite files: check for other processes' commits every this many ms while a store listens (default 25). */
  readonly pollInterval?: number;
}

/** Options of Items and PersistentDict. */
export interface ItemOptions extends StoreOptions {
  /** The type of keys: names are stored as text and read back as this (default 'string'). */
  readonly nameType?: NameType;
}

/** Options of a PersistentDict. */
export interface DictOptions extends ItemOptions {
  /**
   * Times snapshot$'s throttling and the reconnection backoff of the
   * listening connection (default asyncScheduler; tests pass a virtual one).
   * The listening connection is shared by every store on a DataSource and
   * takes its timing from the first store that opens it: give a virtual
   * scheduler only to a store on a DataSource of its own.
   */
  readonly scheduler?: SchedulerLike;
  /**
   * Reconnection backoff of the listening connection in ms (first delay,
   * doubling up to the most). The first store on a database sets it for all.
   */
  readonly reconnect?: {
    /** The first delay, in ms (default 100). */
    readonly initialDelay?: number;
    /** The longest delay, in ms (default 5000). */
    readonly maxDelay?: number;
  };
}

/** Options with defaults applied, checked at construction. */
export interface Settled {
  readonly serializer: Serializer;
  readonly writeNiceness: number;
  readonly nameType: NameType;
  readonly scheduler: SchedulerLike;
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly retention: Retention;
  readonly pollInterval: number;
  readonly since: string | undefined;
}

/** @throws TypeError or RangeError for options that cannot work. */
export function settle(options: DictOptions = {}): Settled {
  const { serializer = devalueSerializer, writeNiceness = NICENESS_WRITE, nameType = 'string' } = options;
  if (typeof serializer?.encode !== 'function' || typeof serializer.decode !== 'function') {
    throw new TypeError('serializer must have encode(value) → string and decode(string) → value');
  }
  if (nameType !== 'string' && nameType !== 'number') {
    throw new TypeError(`nameType must be 'string' or 'number', not ${String(nameType)}`);
  }
  checkPriority({ niceness: writeNiceness });
  const initialDelay = options.reconnect?.initialDelay ?? 100;
  const maxDelay = options.reconnect?.maxDelay ?? 5000;
  if (!(initialDelay > 0 && maxDelay >= initialDelay)) {
    throw new RangeError(
      `reconnect delays must be positive with maxDelay ≥ initialDelay, not ${initialDelay}/${maxDelay}`,
    );
  }
  const pollInterval = options.changeLog?.pollInterval ?? DEFAULT_POLL_INTERVAL;
  if (typeof pollInterval !== 'number' || !Number.isFinite(pollInterval) || pollInterval < 1) {
    throw new RangeError(`changeLog.pollInterval must be a finite number of ms ≥ 1, not ${String(pollInterval)}`);
  }
  const retention = settleRetention(options.changeLog);
  return {
    serializer,
    writeNiceness,
    nameType,
    scheduler: options.scheduler ?? asyncScheduler,
    initialDelay,
    maxDelay,
    retention,
    pollInterval,
    since: options.since,
  };
}
