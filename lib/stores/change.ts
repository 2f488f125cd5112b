import type { ResyncReason } from '../changes/listener';

/**
 * One change of a store, as `changes$` emits it. `origin` is 'remote' for a
 * change another store made (in this process or another, on any database)
 * and this one learned of from the change log; `previous` is undefined where
 * the store had not loaded it.
 */
export interface Change<K, V> {
  /**
   * What happened: a key set, a key deleted, or the whole group cleared; or
   * 'resync': changes by others may have been lost (see `reason`), and the
   * store is reading everything it holds again (the differences follow as
   * 'set', 'delete' or 'clear').
   */
  readonly type: 'set' | 'delete' | 'clear' | 'resync';
  /** Undefined for 'clear' and 'resync'. */
  readonly key: K | undefined;
  /** The new value for 'set'; undefined otherwise. */
  readonly value: V | undefined;
  /** The value before the change, when the store had it loaded; undefined otherwise. */
  readonly previous: V | undefined;
  /** 'local' for a change made through this store, 'remote' for one another store made. */
  readonly origin: 'local' | 'remote';
  /** For 'resync': why ('retention': entries were pruned before this store read them; 'log-lost'; 'log-unreadable'). */
  readonly reason?: ResyncReason;
  /** For a 'resync' after the log could not be read: what failed. */
  readonly error?: unknown;
}
