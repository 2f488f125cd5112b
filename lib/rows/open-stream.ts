import { BrokerClosedError, ConnectionLostError, ReadOnlyError, TransactionError } from '../errors';
import { CancelToken } from '../cancel';
import type { CursorQuery } from '../dialect';
import type { RowSource } from './row-source';
import type { StreamOptions } from './stream-options';
import type { PriorityScheduler } from '../scheduler/priority-scheduler';
import { currentContext, endedError } from '../transaction/context';
import type { SharedDatabase } from '../broker/registry';
import { acquireSlot } from '../transaction/slot';

/** What opening a stream needs from its broker. */
export interface StreamHost {
  readonly db: SharedDatabase;
  readonly name: string;
  /** Resolves when the broker takes work (after start-up); rejects once it is shut down. */
  admit(): Promise<void>;
  /**
   * The queue the caller's transactions go to: the shared one, or inside a
   * run() the run's own (the run holds a slot of the shared one; a stream
   * that needs the transaction slot would wait for itself there).
   */
  transactionQueue(): PriorityScheduler;
  /** Tracks an open stream so that shutdown can close it; returns the untracking. */
  track(close: (error: Error) => void): () => void;
}

/**
 * Opens the cursor of one stream subscription:
 * - inside a transaction, on that transaction's connection (the stream is
 *   part of it and sees its writes);
 * - otherwise on a connection of its own, taken from the stream budget so that
 *   open streams never starve transactions (sqlite in memory has one
 *   connection: the stream holds the transaction slot while it is open).
 * Whatever it took is given back when the source closes, or at once if opening fails.
 */
export async function openStream<T>(
  host: StreamHost,
  query: CursorQuery,
  options: StreamOptions,
  signal: AbortSignal,
): Promise<RowSource<T>> {
  const { db } = host;
  const ctx = currentContext(db);
  if (ctx) {
    if (!ctx.open) throw endedError(query.sql);
    return guard(await db.dialect.openCursorOn<T>(ctx.runner, query), query, host, () => undefined);
  }
  await host.admit();
  const scheduler = db.streamScheduler ?? host.transactionQueue();
  const release = await acquireSlot(scheduler, options, signal);
  try {
    // The slot may have come free because shutdown closed other streams.
    await host.admit();
    const source = await openCursorFollowing<T>(db, query, signal);
    try {
      // Shut down while opening: give it all back rather than read on.
      await host.admit();
    } catch (err) {
      await source.close();
      throw err;
    }
    return guard(source, query, host, release);
  } catch (err) {
    release();
    throw wrap(err, query, db);
  }
}

/** Wraps driver errors, and fails reads once shutdown has closed the stream. */
function guard<T>(source: RowSource<T>, query: CursorQuery, host: StreamHost, release: () => void): RowSource<T> {
  let closedBy: Error | undefined;
  const untrack = host.track((error) => {
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
        throw closedBy ?? wrap(err, query, host.db);
      }
    },
    close,
    interrupt: source.interrupt && (() => source.interrupt!()),
  };
}

function wrap(err: unknown, query: CursorQuery, db: SharedDatabase): unknown {
  // A write the stream refused says so itself, with its code and SQL.
  if (err instanceof TransactionError || err instanceof BrokerClosedError || err instanceof ReadOnlyError) return err;
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

/**
 * Opens the cursor with a token that follows `signal` while the cursor opens
 * (the dialect takes sasync's CancelToken; the stream still watches the
 * caller's AbortSignal until it watches a token of its own).
 */
async function openCursorFollowing<T>(
  db: SharedDatabase,
  query: CursorQuery,
  signal: AbortSignal,
): Promise<RowSource<T>> {
  const token = new CancelToken();
  const follow = () => token.abort(signal.reason);
  if (signal.aborted) follow();
  else signal.addEventListener('abort', follow, { once: true });
  try {
    return await db.dialect.openCursor<T>(db.dataSource, query, token);
  } finally {
    signal.removeEventListener('abort', follow);
  }
}
