import { randomUUID } from 'node:crypto';
import { AccessBroker } from '../broker/access-broker';
import { storeAccess } from '../broker/store-access';
import { clock } from '../clock';
import type { CacheLock } from './backend';

/** `sasync_cache_locks(name, holder, expires_at)`: one row per key being made. */
export const LOCKS_TABLE = 'sasync_cache_locks';

/**
 * Locks as rows, for a database without advisory locks (sqlite): a lock is
 * a row inserted in a write transaction (the database's write lock makes
 * two inserts of one key take turns), deleted on release. A row carries an
 * expiry (`lease` ms): a process killed while holding it cannot keep it
 * longer, and the next taker deletes it.
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
    this.#table ??= this.#broker.table(LOCKS_TABLE, [
      { name: 'name', type: 'string', length: 255, primary: true },
      { name: 'holder', type: 'string', length: 64, nullable: false },
      { name: 'expires_at', type: 'bigint', nullable: false },
    ]);
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
    return {
      release: async () => {
        await this.#broker.transact(
          (tx) => tx.query(`DELETE FROM ${LOCKS_TABLE} WHERE name = ${p(1)} AND holder = ${p(2)}`, [key, holder]),
          { name: 'cache unlock', retry: 8 },
        );
      },
    };
  }
}
