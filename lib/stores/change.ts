/**
 * One change of a store, as `changes$` emits it. `origin` is 'remote' for a
 * change another store made (another process, on postgres) and this one
 * learned of; `previous` is undefined where the store had not loaded it.
 */
export interface Change<K, V> {
  /** What happened: a key set, a key deleted, or the whole group cleared. */
  readonly type: 'set' | 'delete' | 'clear';
  /** Undefined for 'clear'. */
  readonly key: K | undefined;
  /** The new value for 'set'; undefined otherwise. */
  readonly value: V | undefined;
  /** The value before the change, when the store had it loaded; undefined otherwise. */
  readonly previous: V | undefined;
  /** 'local' for a change made through this store, 'remote' for one another store made. */
  readonly origin: 'local' | 'remote';
}
