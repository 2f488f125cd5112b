/**
 * A TCP proxy on 127.0.0.1 that delays every chunk by a fixed time in each
 * direction, so that the bench can show what round trips cost on a network
 * (loopback answers in tens of microseconds, which hides them).
 *
 * Each direction is a delay line: a chunk read at time t is written at
 * t + delay, in the order read, as the chunk it was (never merged or split
 * here; TCP may still coalesce on the wire, as it would anyway). The end of a
 * stream (FIN) travels the same line, after the last chunk. Backpressure: the
 * source is paused while the bytes held in the line plus those waiting in the
 * destination's write buffer exceed a high-water mark, and a line stops
 * writing when the destination refuses more until it drains (a congested
 * chunk then goes out late, never out of order). An error or a reset on
 * either side destroys both.
 *
 * Precision: node's setTimeout counts whole milliseconds and fired ~1.3 ms
 * after a 1 ms request here, so the lines are woken by a
 * {@link PreciseAlarm} (a thread asleep on a futex, to a fraction of a
 * millisecond) instead. What a chunk waits beyond the delay is then the event
 * loop's own wake-up; the bench prints the measured `SELECT 1` round trip
 * with and without the proxy next to its results.
 *
 * Run alone: `npx tsx bench/latency-proxy.ts --delay=1 --to=127.0.0.1:5432 --port=6432`.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { PreciseAlarm, preciseNow, type Sleeper } from './precise-alarm';

/** Bytes one direction may hold (in the line and the destination's buffer) before its source is paused. */
const HIGH_WATER = 1024 * 1024;

/** Where a proxy forwards to, and how long it holds each chunk in each direction. */
export interface LatencyProxyOptions {
  /** The server the proxy forwards to. */
  readonly to: { readonly host: string; readonly port: number };
  /** The delay added to each direction, in milliseconds (a round trip gains twice this). */
  readonly delayMs: number;
  /** The port to listen on, 127.0.0.1 only; 0 (the default) picks a free one. */
  readonly port?: number;
}

/** A running proxy. */
export interface LatencyProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  readonly delayMs: number;
  /** Connections accepted so far. */
  readonly accepted: () => number;
  /**
   * Round trips so far, over every connection: the times the server
   * answered after the client had sent something since its last answer
   * (statements written together before reading count once).
   */
  readonly roundTrips: () => number;
  /** Stops listening and destroys the connections still open. */
  close(): Promise<void>;
}

type Slot = { readonly due: number; readonly chunk: Buffer | null }; // null: the end of the stream

/** One direction of one connection: reads from `from`, writes to `to` `delayMs` later. */
class DelayLine implements Sleeper {
  private readonly slots: Slot[] = [];
  private head = 0;
  private held = 0;
  private blocked = false;
  /** Whether `from` ended cleanly (its FIN is in the line or already passed on). */
  ended = false;

  constructor(
    private readonly from: net.Socket,
    private readonly to: net.Socket,
    private readonly delayMs: number,
    private readonly alarm: PreciseAlarm,
    onData: () => void,
  ) {
    from.on('data', (chunk: Buffer) => {
      onData();
      this.held += chunk.length;
      this.push({ due: preciseNow() + delayMs, chunk });
      if (this.pressure() > HIGH_WATER) from.pause();
    });
    from.on('end', () => {
      this.ended = true;
      this.push({ due: preciseNow() + delayMs, chunk: null });
    });
    to.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  /** Called by the alarm at the head chunk's time. */
  readonly wake = (): void => this.flush();

  /** Drops what is held (the sockets are being destroyed). */
  stop(): void {
    this.alarm.cancel(this);
    this.slots.length = 0;
    this.head = 0;
  }

  private pressure(): number {
    return this.held + this.to.writableLength;
  }

  private push(slot: Slot): void {
    this.slots.push(slot);
    if (this.delayMs === 0)
      this.flush(); // a plain proxy: what the proxy itself costs
    else if (this.slots.length - this.head === 1 && !this.blocked) this.arm();
  }

  private arm(): void {
    const next = this.slots[this.head];
    if (next !== undefined) this.alarm.wake(this, next.due);
  }

  /** Writes every chunk that is due, in order, until the destination pushes back. */
  private flush(): void {
    if (this.to.destroyed) return this.stop();
    const now = preciseNow();
    while (this.head < this.slots.length && !this.blocked) {
      const slot = this.slots[this.head]!;
      if (slot.due > now) break;
      this.head++;
      if (slot.chunk === null) {
        this.to.end();
        continue;
      }
      this.held -= slot.chunk.length;
      if (!this.to.write(slot.chunk)) this.blocked = true;
    }
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.slots.splice(0, this.head);
      this.head = 0;
    }
    if (this.from.isPaused() && this.pressure() <= HIGH_WATER / 2) this.from.resume();
    if (!this.blocked) this.arm();
  }
}

/** Starts a proxy on 127.0.0.1 that forwards to `to` with `delayMs` added each way. */
export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const { to, delayMs } = options;
  if (!(Number.isFinite(delayMs) && delayMs >= 0)) throw new RangeError(`delay must be >= 0 ms, not ${delayMs}`);
  const open = new Set<net.Socket>();
  const alarm = new PreciseAlarm();
  let accepted = 0;
  let roundTrips = 0;
  const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (client) => {
    accepted++;
    const upstream = net.connect({ host: to.host, port: to.port, allowHalfOpen: true, noDelay: true });
    let clientSpoke = false;
    const lines = [
      new DelayLine(client, upstream, delayMs, alarm, () => (clientSpoke = true)),
      new DelayLine(upstream, client, delayMs, alarm, () => {
        if (clientSpoke) roundTrips++;
        clientSpoke = false;
      }),
    ];
    for (const socket of [client, upstream]) open.add(socket);
    const destroyBoth = () => {
      for (const line of lines) line.stop();
      client.destroy();
      upstream.destroy();
    };
    client.on('error', destroyBoth);
    upstream.on('error', destroyBoth);
    // A side that closes without having sent its FIN (reset, destroyed) takes the other with it;
    // after a clean end, the other side is closed by the FIN the line passes on.
    client.on('close', () => {
      open.delete(client);
      if (!lines[0]!.ended) destroyBoth();
    });
    upstream.on('close', () => {
      open.delete(upstream);
      if (!lines[1]!.ended) destroyBoth();
    });
    upstream.once('connect', () => client.resume());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    await alarm.close();
    throw err;
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    delayMs,
    accepted: () => accepted,
    roundTrips: () => roundTrips,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      });
      await alarm.close();
    },
  };
}

/** `url` with its host and port replaced by the proxy's (the rest: user, database, parameters, kept). */
export function throughProxy(url: string, proxy: LatencyProxy): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

/** The host and port a postgres URL points at (5432 when it names none). */
export function postgresAddress(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : 5432 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      delay: { type: 'string', default: '1' },
      to: { type: 'string', default: '127.0.0.1:5432' },
      port: { type: 'string', default: '6432' },
    },
  });
  const [host, port] = values.to.split(':');
  const proxy = await startLatencyProxy({
    to: { host: host || '127.0.0.1', port: Number(port ?? 5432) },
    delayMs: Number(values.delay),
    port: Number(values.port),
  });
  console.log(`127.0.0.1:${proxy.port} -> ${values.to}, +${proxy.delayMs} ms each way (Ctrl-C stops)`);
  process.once('SIGINT', () => void proxy.close());
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
