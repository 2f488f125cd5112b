import type { CancelToken } from '../cancel';
import type { CursorQuery } from '../dialect';
import { BrokerClosedError, CancelledError, ConnectionLostError, ReadOnlyError, TransactionError } from '../errors';
import type { SharedDatabase } from '../broker/registry';
import { currentContext, endedError } from '../transaction/context';
import type { RowSource } from './row-source';
import type { StreamOptions } from './stream-options';

/** Whether a broker takes a row stream now: its lifecycle implements this (see Lifecycle). */
export interface StreamGate {
  /** Resolves once the broker takes work (after its start-up); rejects with BrokerClosedError once it shut down. */
  admitStream(): Promise<void>;
  /** Throws BrokerClosedError if the broker shut down while the stream waited (the stream gives back what it took). */
  checkStillOpen(): void;
  /** Tracks an open stream so that shutdown can close it, telling its consumer why; returns the untracking. */
  trackStream(close: (error: Error) => void): () => void;
}

/**
 * Opens the cursor of one stream subscription:
 * - inside a transaction, on that transaction's connection (the stream is
 *   part of it and sees its writes);
 * - otherwise on a connection of its own, once the stream budget gives it a
 *   slot (see StreamBudget), so that open streams never starve transactions.
 * Whatever it took is given back when the source closes, or at once if
 * opening fails or `token` aborts first.
 */
export async function openStream<T>(
  db: SharedDatabase,
  gate: StreamGate,
  query: CursorQuery,
  options: StreamOptions,
  token: CancelToken,
): Promise<RowSource<T>> {
  const ctx = currentContext(db);
  if (ctx) {
    if (!ctx.open) throw endedError(query.sql);
    return guard(await db.dialect.openCursorOn<T>(ctx.runner, query), query, db, gate, NOTHING);
  }
  await gate.admitStream();
  const release = await db.streams.acquire(options, token);
  try {
    // The slot may have come free because shutdown closed other streams.
    gate.checkStillOpen();
    const source = await db.dialect.openCursor<T>(db.dataSource, query, token);
    try {
      // Shut down while opening: give it all back rather than read on.
      gate.checkStillOpen();
    } catch (err) {
      await source.close();
      throw err;
    }
    return guard(source, query, db, gate, release);
  } catch (err) {
    release();
    throw wrap(err, query, db);
  }
}

const NOTHING = (): void => undefined;

/** Wraps driver errors, and fails reads once shutdown has closed the stream. */
function guard<T>(
  source: RowSource<T>,
  query: CursorQuery,
  db: SharedDatabase,
  gate: StreamGate,
  release: () => void,
): RowSource<T> {
  let closedBy: Error | undefined;
  const untrack = gate.trackStream((error) => {
    closedBy = error;
    void close();
  });
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= source
      .close()
      .catch(() => undefined)
      .finally(() => {
        untrack();
        release();
      });
    return closing;
  };
  return {
    async read(n) {
      if (closedBy) throw closedBy;
      try {
        const rows = await source.read(n);
        if (closedBy) throw closedBy;
        return rows;
      } catch (err) {
        throw closedBy ?? wrap(err, query, db);
      }
    },
    close,
    interrupt: source.interrupt && (() => source.interrupt!()),
  };
}

function wrap(err: unknown, query: CursorQuery, db: SharedDatabase): unknown {
  // A write the stream refused says so itself, with its code and SQL; a cancellation is one.
  if (
    err instanceof TransactionError ||
    err instanceof BrokerClosedError ||
    err instanceof ReadOnlyError ||
    err instanceof CancelledError
  ) {
    return err;
  }
  // A lost connection is told as one (the driver's code stays on the error).
  const lost = db.dialect.lostConnection?.(undefined, err);
  const cause = lost ? new ConnectionLostError('reading a row stream', { cause: lost.error, target: db.label }) : err;
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TransactionError(`row stream failed: ${reason}; its cursor was closed`, {
    cause,
    sql: query.sql,
    method: 'stream',
  });
}
