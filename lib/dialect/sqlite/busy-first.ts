import type sqlite3 from 'sqlite3';

/** The statement that switches a file to WAL mode (TypeORM's, with `enableWAL`). */
const WAL_SWITCH = /^\s*PRAGMA\s+journal_mode\s*=\s*'?WAL'?\s*;?\s*$/i;

/** How long (ms) between tries of a WAL switch that met another connection's switch. */
const WAL_RETRY_MS = 10;

type RunCallback = (this: sqlite3.RunResult, err: Error | null) => void;

/**
 * `driver` whose connections wait up to `busyTimeout` ms for another
 * connection's lock from the moment they open. TypeORM sets the busy timeout
 * only after it has switched the file to WAL mode, and that switch needs a
 * lock: a process opening the file while another one creates its tables
 * failed at once with SQLITE_BUSY instead of waiting. node-sqlite3 queues the
 * setting until the file is open, ahead of TypeORM's first PRAGMA.
 *
 * The switch itself is tried again within the same `busyTimeout`: on a new
 * file (still in rollback mode), connections switching at once each hold a
 * shared lock and want the exclusive one, and SQLite answers one of them
 * SQLITE_BUSY at once, without its busy handler (waiting could deadlock).
 * Seen as "cannot open sqlite … SQLITE_BUSY" when four DataSources started
 * on a fresh file together (47 of 300 rounds of four connections failed).
 */
export function busyFirst(driver: typeof sqlite3, busyTimeout: number): typeof sqlite3 {
  class Database extends driver.Database {
    constructor(file: string, mode?: number, callback?: (err: Error | null) => void) {
      super(file, mode as number, callback);
      this.configure('busyTimeout', busyTimeout);
    }

    override run(sql: string, ...rest: unknown[]): this {
      const callback = rest.at(-1);
      if (typeof callback !== 'function' || !WAL_SWITCH.test(sql)) return super.run(sql, ...rest);
      const params = rest.slice(0, -1);
      const deadline = Date.now() + busyTimeout;
      const attempt = (): void => {
        super.run(sql, ...params, function (this: sqlite3.RunResult, err: Error | null) {
          if ((err as { code?: string } | null)?.code === 'SQLITE_BUSY' && Date.now() < deadline) {
            // A real timer: this is the driver's own wait, like SQLite's busy handler.
            setTimeout(attempt, WAL_RETRY_MS + Math.random() * WAL_RETRY_MS);
            return;
          }
          (callback as RunCallback).call(this, err);
        });
      };
      attempt();
      return this;
    }
  }
  return Object.create(driver, { Database: { value: Database } }) as typeof sqlite3;
}
