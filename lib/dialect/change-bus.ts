import type { SchedulerLike } from 'rxjs';
import type { DataSource, QueryRunner } from 'typeorm';

/** What a {@link ChangeBus} listener is told. */
export interface BusListener {
  /** A notice announced on the channel, by this process or another. */
  notice(payload: string): void;
  /**
   * Notices may have been lost (the listening connection dropped and is back):
   * reread whatever the listener caches.
   */
  resync(): void;
}

export interface BusOptions {
  /** Times the reconnection backoff (tests inject a virtual-time scheduler). */
  readonly scheduler: SchedulerLike;
  /** First reconnection delay in ms; it doubles up to {@link maxDelay}. */
  readonly initialDelay: number;
  readonly maxDelay: number;
}

/** The connection's state, for tests and status displays. */
export type BusState = 'idle' | 'connecting' | 'listening' | 'down' | 'closed';

/**
 * Wake-ups between stores on one database, across processes where the
 * database can carry them (postgres LISTEN/NOTIFY on one dedicated, unpooled
 * connection per DataSource) and within this process where it cannot (sqlite).
 * The stores send no data on it (the change log carries what changed, see
 * lib/changes/); payloads are short text (postgres allows under 8000 bytes).
 */
export interface ChangeBus {
  /**
   * Inside a write transaction, on its connection: announces `payload` on
   * `channel`, delivered when (and only if) the transaction commits.
   */
  announce(runner: QueryRunner, channel: string, payload: string): Promise<void>;
  /** After that transaction committed: delivers in this process where the database does not. */
  committed(channel: string, payload: string): void;
  /**
   * Listens on `channel` (a validated identifier). The first listener opens
   * the connection; the returned function removes the listener, and the last
   * removal closes the connection.
   */
  listen(channel: string, listener: BusListener): () => void;
  /** The listening connection's state (always 'listening' once listened to, where no connection is needed). */
  readonly state: BusState;
  /** Calls `observer` on every state change; returns the function that stops it. */
  onState(observer: (state: BusState) => void): () => void;
  /** Closes the connection and cancels any reconnection; listeners are dropped. */
  close(): Promise<void>;
}

/** Where a dialect's change notices travel. */
export interface DialectBus {
  /** Opens the change bus of an initialized DataSource (one per DataSource; see {@link ChangeBus}). */
  openBus(ds: DataSource, options: BusOptions): ChangeBus;
}
