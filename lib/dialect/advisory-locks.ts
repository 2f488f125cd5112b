import type { DataSource } from 'typeorm';

/**
 * Locks by name that other processes respect, held by a session of their
 * own: a lock dies with its connection, so a process killed while holding
 * one cannot keep it. Opened per user (a cache backend) and closed by it.
 */
export interface AdvisoryLockSession {
  /** Takes the lock of `name` if nobody else holds it; never waits. */
  tryLock(name: string): Promise<boolean>;
  /** Releases the lock of `name` (nothing if the connection was lost: the lock went with it). */
  unlock(name: string): Promise<void>;
  /** Ends the session's connection, releasing every lock it holds. */
  close(): Promise<void>;
}

/** A database that has session-level advisory locks (postgres). */
export interface DialectAdvisoryLocks {
  /** A session of its own on an initialized DataSource's server, connected at the first lock. */
  openAdvisoryLocks?(ds: DataSource): AdvisoryLockSession;
}
