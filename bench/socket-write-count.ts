import net from 'node:net';

type Writes = net.Socket & { _writev(chunks: unknown[], cb: (err?: Error | null) => void): void };

/** A count of socket writes: see {@link countSocketWrites}. */
export interface SocketWriteCount {
  /** Writes counted since the count began or was reset. */
  count(): number;
  reset(): void;
  /** Stops counting: the sockets write as before. */
  restore(): void;
}

/**
 * Counts the writes sockets hand to the system from now on (those `counts`
 * accepts, all by default): a call of a socket's `_write` (one chunk) or
 * `_writev` (the chunks held while it was corked), a system call each and,
 * on a database connection, a wake-up of the server's backend.
 */
export function countSocketWrites(counts: (socket: net.Socket) => boolean = () => true): SocketWriteCount {
  const proto = net.Socket.prototype as Writes;
  const original = { write: proto._write, writev: proto._writev };
  let n = 0;
  proto._write = function (this: net.Socket, ...args: Parameters<net.Socket['_write']>) {
    if (counts(this)) n++;
    return original.write.apply(this, args);
  };
  proto._writev = function (this: net.Socket, ...args: Parameters<Writes['_writev']>) {
    if (counts(this)) n++;
    return original.writev.apply(this, args);
  };
  return {
    count: () => n,
    reset: () => void (n = 0),
    restore() {
      proto._write = original.write;
      proto._writev = original.writev;
    },
  };
}
