import type { SerializationError } from '../errors';
import type { Change } from './change';
import type { DictCache } from './dict-cache';
import type { StoreGroup } from './store-group';
import { slices } from './item-sql';
import { decodeNotice, type Notice } from './notice';
import { ITEMS_TABLE } from './store-broker';

type Row = { name: string; value: string };

/** What RemoteSync needs of its dict. */
export interface RemoteHost<K, V> {
  emit(change: Change<K, V>): void;
  /** Whether a local write of this key is not yet durable (it wins over what was read). */
  pending(text: string): boolean;
  decodeRows(rows: readonly Row[]): { values: Map<K, V>; failures: SerializationError[] };
}

/**
 * Keeps a PersistentDict's cache true to what other stores write: listens on
 * the items channel, rereads the keys a notice names (or the whole group),
 * updates the cache and emits 'remote' changes. After the listening
 * connection was down it rereads everything the dict holds.
 */
export class RemoteSync<K, V> {
  #unlisten: (() => void) | undefined;
  #stopped = false;

  constructor(
    private readonly g: StoreGroup,
    private readonly cache: DictCache<K, V>,
    private readonly host: RemoteHost<K, V>,
  ) {
    g.bus.then(
      (bus) => {
        if (this.#stopped) return;
        const resync = () => void this.#resync().catch(() => undefined);
        const unlisten = bus.listen(ITEMS_TABLE.name, { notice: (payload) => this.#notice(payload), resync });
        // LISTEN sees only what commits after it: what the dict read before
        // its first LISTEN took effect is read again once it has.
        let unwatch: (() => void) | undefined;
        if (bus.state !== 'listening') {
          unwatch = bus.onState((state) => {
            if (state !== 'listening') return;
            unwatch?.();
            unwatch = undefined;
            resync();
          });
        }
        this.#unlisten = () => {
          unwatch?.();
          unlisten();
        };
      },
      () => undefined,
    );
  }

  /** Stops listening (at shutdown, after the last flush). */
  stop(): void {
    this.#stopped = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
  }

  #notice(payload: string): void {
    const notice = decodeNotice(payload);
    if (!notice || notice.g !== this.g.group || notice.o === this.g.origin || this.#stopped) return;
    void this.#apply(notice).catch(() => undefined);
  }

  async #apply(notice: Notice): Promise<void> {
    if (notice.all) return this.#resync();
    if (notice.c) {
      const had = this.cache.values.size > 0 || !this.cache.complete;
      for (const key of [...this.cache.values.keys()]) {
        if (!this.host.pending(this.g.key(key))) this.cache.values.delete(key);
      }
      this.cache.completed();
      this.cache.clearedRemotely();
      if (had)
        this.host.emit({ type: 'clear', key: undefined, value: undefined, previous: undefined, origin: 'remote' });
    }
    const names = notice.k ?? [];
    const mark = this.cache.mark();
    const rows: Row[] = [];
    for (const some of slices(names)) rows.push(...(await this.g.read<Row>(this.g.sql.loadSome(some))));
    const { values, failures } = this.host.decodeRows(rows);
    const unreadable = new Set(failures.map((f) => f.path));
    for (const name of names) {
      const key = this.g.keyOf<K>(name);
      // A value this store cannot read: forget it, so that get() reports it.
      if (unreadable.has(name)) {
        this.cache.forget(key);
        continue;
      }
      const value = values.get(key);
      this.#reconcile(key, name, values.has(key), value, mark);
    }
  }

  /** Rereads the whole group: notices may have been lost. */
  async #resync(): Promise<void> {
    const known = [...this.cache.values.keys(), ...this.cache.absentKeys()];
    if (this.#stopped || (known.length === 0 && !this.cache.complete)) return;
    const mark = this.cache.mark();
    const rows = await this.g.read<Row>(this.g.sql.loadAll());
    const { values, failures } = this.host.decodeRows(rows);
    const unreadable = new Set(failures.map((f) => f.path));
    const keys = new Set<K>([...known, ...(this.cache.complete ? values.keys() : [])]);
    for (const name of unreadable) if (name !== undefined) this.cache.forget(this.g.keyOf<K>(name));
    for (const key of keys) {
      const name = this.g.key(key);
      if (!unreadable.has(name)) this.#reconcile(key, name, values.has(key), values.get(key), mark);
    }
  }

  /** Takes what was read unless a local write or a later read is newer, and emits it if it differs. */
  #reconcile(key: K, name: string, present: boolean, value: V | undefined, mark: number): void {
    if (this.#stopped || this.host.pending(name) || this.cache.writtenSince(key, mark)) return;
    if (this.cache.readSince(key, mark)) return;
    const before = this.cache.known(key);
    this.cache.put(key, present, value, mark);
    if (present && before?.present && this.#same(before.value, value)) return;
    if (!present && before?.present === false) return;
    const previous = before?.present ? before.value : undefined;
    this.host.emit(
      present
        ? { type: 'set', key, value, previous, origin: 'remote' }
        : { type: 'delete', key, value: undefined, previous, origin: 'remote' },
    );
  }

  #same(a: unknown, b: unknown): boolean {
    if (Object.is(a, b)) return true;
    try {
      return this.g.encode(a) === this.g.encode(b);
    } catch {
      return false;
    }
  }
}
