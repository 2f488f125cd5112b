/**
 * One change of a store, as `changes$` emits it. `origin` is 'remote' for a
 * change another store made (another process, on postgres) and this one
 * learned of; `previous` is undefined where the store had not loaded it.
 */
export interface Change<K, V> {
  readonly type: 'set' | 'delete' | 'clear';
  /** Undefined for 'clear'. */
  readonly key: K | undefined;
  /** The new value for 'set'; undefined otherwise. */
  readonly value: V | undefined;
  readonly previous: V | undefined;
  readonly origin: 'local' | 'remote';
}
