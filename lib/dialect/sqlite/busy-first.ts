import type sqlite3 from 'sqlite3';

/**
 * `driver` whose connections wait up to `busyTimeout` ms for another
 * connection's lock from the moment they open. TypeORM sets the busy timeout
 * only after it has switched the file to WAL mode, and that switch needs a
 * lock: a process opening the file while another one creates its tables
 * failed at once with SQLITE_BUSY instead of waiting. node-sqlite3 queues the
 * setting until the file is open, ahead of TypeORM's first PRAGMA.
 */
export function busyFirst(driver: typeof sqlite3, busyTimeout: number): typeof sqlite3 {
  class Database extends driver.Database {
    constructor(file: string, mode?: number, callback?: (err: Error | null) => void) {
      super(file, mode as number, callback);
      this.configure('busyTimeout', busyTimeout);
    }
  }
  return Object.create(driver, { Database: { value: Database } }) as typeof sqlite3;
}
