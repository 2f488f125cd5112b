import { randomUUID } from 'node:crypto';
import { AccessBroker } from '../broker/access-broker';
import { storeAccess } from '../broker/store-access';
import { clock, type TimerHandle } from '../clock';
import type { CacheLock } from './backend';

/** `sasync_cache_locks(name, holder, expires_at)`: one row per key being made. */
export const LOCKS_TABLE = 'sasync_cache_locks';

/**
 * Locks as rows, for a database without advisory locks (sqlite): a lock is
 * a row inserted in a write transaction (the database's write lock makes
 * two inserts of one key take turns), deleted on release. A row carries an
 * expiry (`lease` ms), which its holder renews every third of the lease
 * while it holds it (a creator running longer than the lease keeps its
 * lock): a process killed while holding it cannot keep it longer than
 * `lease`, and the next taker deletes it.
 */
export class RowLocks {
  readonly #broker: AccessBroker;
  readonly #lease: number;
  #table: Promise<unknown> | undefined;

  constructor(broker: AccessBroker, lease: number) {
    this.#broker = broker;
    this.#lease = lease;
  }

  /** The lock of `key` if nobody holds it (or its holder's lease ran out); never waits. */
  async tryTake(key: string): Promise<CacheLock | undefined> {
    this.#table ??= this.#broker.table(
      LOCKS_TABLE,
      [
        { name: 'name', type: 'string', length: 255, primary: true },
        { name: 'holder', type: 'string', length: 64, nullable: false },
        { name: 'expires_at', type: 'bigint', nullable: false },
      ],
      { evolve: true },
    );
    await this.#table;
    const p = this.#broker[storeAccess]().placeholder;
    const holder = randomUUID();
    const now = clock.now();
    const got = await this.#broker.transact(
      async (tx) => {
        await tx.query(`DELETE FROM ${LOCKS_TABLE} WHERE name = ${p(1)} AND expires_at < ${p(2)}`, [key, now]);
        await tx.query(
          `INSERT INTO ${LOCKS_TABLE} (name, holder, expires_at) VALUES (${p(1)}, ${p(2)}, ${p(3)}) ON CONFLICT (name) DO NOTHING`,
          [key, holder, now + this.#lease],
        );
        const rows = (await tx.query(`SELECT holder FROM ${LOCKS_TABLE} WHERE name = ${p(1)}`, [key])) as {
          holder: string;
        }[];
        return rows[0]?.holder === holder;
      },
      { name: 'cache lock', retry: 8 },
    );
    if (!got) return undefined;
    return new HeldRow(this.#broker, key, holder, this.#lease);
  }
}

/**
 * A lock row this process holds: its lease renewed every third of it until
 * release(), which stops the renewals (waiting for one under way) and
 * deletes the row.
 */
class HeldRow implements CacheLock {
  readonly #broker: AccessBroker;
  readonly #key: string;
  readonly #holder: string;
  readonly #lease: number;
  #timer: TimerHandle | undefined;
  #renewing: Promise<void> | undefined;
  #released = false;

  constructor(broker: AccessBroker, key: string, holder: string, lease: number) {
    this.#broker = broker;
    this.#key = key;
    this.#holder = holder;
    this.#lease = lease;
    this.#schedule();
  }

  async release(): Promise<void> {
    this.#released = true;
    clock.clearTimeout(this.#timer);
    await this.#renewing;
    const p = this.#broker[storeAccess]().placeholder;
    await this.#broker.transact(
      (tx) =>
        tx.query(`DELETE FROM ${LOCKS_TABLE} WHERE name = ${p(1)} AND holder = ${p(2)}`, [this.#key, this.#holder]),
      { name: 'cache unlock', retry: 8 },
    );
  }

  #schedule(): void {
    // Unref'd: the creator holding the lock keeps the process up if it needs to, not its lease.
    this.#timer = clock.setTimeout(() => this.#renew(), this.#lease / 3, { unref: true });
  }

  #renew(): void {
    const p = this.#broker[storeAccess]().placeholder;
    const renewal = this.#broker.transact(
      (tx) =>
        tx.query(`UPDATE ${LOCKS_TABLE} SET expires_at = ${p(1)} WHERE name = ${p(2)} AND holder = ${p(3)}`, [
          clock.now() + this.#lease,
          this.#key,
          this.#holder,
        ]),
      { name: 'cache lock lease', retry: 8 },
    );
    // A renewal that fails leaves two thirds of the lease: the next one tries again.
    this.#renewing = Promise.resolve(renewal).then(
      () => undefined,
      () => undefined,
    );
    void this.#renewing.then(() => {
      this.#renewing = undefined;
      if (!this.#released) this.#schedule();
    });
  }
}
