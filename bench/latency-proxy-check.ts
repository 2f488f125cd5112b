/**
 * Checks the latency proxy (`npx tsx bench/latency-proxy-check.ts [pgUrl]`):
 * 1. bytes: 16 MB in random-sized chunks through the proxy to an echo server
 *    and back, with a reader that pauses (backpressure), arrive whole and in
 *    order; the client's end reaches the server and the server's end comes
 *    back (a clean close both ways);
 * 2. backpressure: against a server that reads nothing, a client writing
 *    64 MB as fast as it may is stopped after a few MB (the proxy's high-water
 *    mark plus the kernel's socket buffers), not after all of it;
 * 3. timing: the `SELECT 1` round trip on postgres, direct and through the
 *    proxy at 0, 1, 2 and 5 ms each way (≈ direct + 2 × delay).
 * Exits 1 if a check fails.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { DEFAULT_PG_URL } from './options';
import { measureRoundTrip } from './latency-check';
import { postgresAddress, startLatencyProxy, throughProxy } from './latency-proxy';

const BYTES = 16 * 1024 * 1024;

async function echoServer(): Promise<{ port: number; ended: Promise<void>; close: () => Promise<void> }> {
  let ended!: () => void;
  const endedP = new Promise<void>((resolve) => (ended = resolve));
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    socket.pipe(socket); // echoes, and ends its side when the client's end arrives
    socket.on('end', ended);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    ended: endedP,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function checkBytes(delayMs: number): Promise<string> {
  const echo = await echoServer();
  const proxy = await startLatencyProxy({ to: { host: '127.0.0.1', port: echo.port }, delayMs });
  try {
    const sent = createHash('sha256');
    const received = createHash('sha256');
    const socket = net.connect({ host: '127.0.0.1', port: proxy.port, allowHalfOpen: true });
    await once(socket, 'connect');
    let got = 0;
    let pauses = 0;
    socket.on('data', (chunk: Buffer) => {
      received.update(chunk);
      got += chunk.length;
      // A slow reader now and then: the proxy must hold back, not buffer everything.
      if (got % 7 === 0 || chunk.length > 60_000) {
        pauses++;
        socket.pause();
        setImmediate(() => socket.resume());
      }
    });
    const closed = once(socket, 'close');
    const started = performance.now();
    for (let left = BYTES; left > 0;) {
      const chunk = randomBytes(Math.min(left, 1 + Math.floor(Math.random() * 100_000)));
      left -= chunk.length;
      sent.update(chunk);
      if (!socket.write(chunk)) await once(socket, 'drain');
    }
    socket.end();
    await echo.ended;
    await closed;
    const seconds = (performance.now() - started) / 1000;
    const ok = got === BYTES && sent.digest('hex') === received.digest('hex');
    if (!ok) throw new Error(`delay ${delayMs} ms: ${got} of ${BYTES} bytes came back, or not in order`);
    return `delay ${delayMs} ms: 16 MB echoed whole and in order in ${seconds.toFixed(2)} s (${pauses} reader pauses); both ends closed`;
  } finally {
    await proxy.close();
    await echo.close();
  }
}

async function checkBackpressure(): Promise<string> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.pause(); // never reads
    accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const proxy = await startLatencyProxy({
    to: { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port },
    delayMs: 1,
  });
  const socket = net.connect({ host: '127.0.0.1', port: proxy.port });
  try {
    await once(socket, 'connect');
    const chunk = Buffer.alloc(64 * 1024, 1);
    let written = 0;
    const stalled = new Promise<void>((resolve) => {
      const more = (): void => {
        while (written < 64 * 2 ** 20) {
          written += chunk.length;
          if (!socket.write(chunk)) {
            // Stalled: wait for a drain that a proxy without backpressure would give.
            const timer = setTimeout(resolve, 500);
            socket.once('drain', () => {
              clearTimeout(timer);
              more();
            });
            return;
          }
        }
        resolve();
      };
      more();
    });
    await stalled;
    const mb = written / 2 ** 20;
    if (mb >= 48) throw new Error(`backpressure: the client wrote ${mb.toFixed(1)} MB to a server that reads nothing`);
    return `backpressure: a server that reads nothing stopped the client after ${mb.toFixed(1)} MB of 64`;
  } finally {
    socket.destroy();
    await proxy.close();
    for (const s of accepted) s.destroy(); // paused: it would never see the proxy's close
    await new Promise((resolve) => server.close(resolve));
  }
}

async function checkTiming(url: string): Promise<void> {
  const direct = await measureRoundTrip(url);
  console.log(
    `SELECT 1, direct: median ${direct.medianMs.toFixed(2)} ms (p10 ${direct.p10Ms.toFixed(2)}, p90 ${direct.p90Ms.toFixed(2)})`,
  );
  for (const delayMs of [0, 1, 2, 5]) {
    const proxy = await startLatencyProxy({ to: postgresAddress(url), delayMs });
    try {
      const r = await measureRoundTrip(throughProxy(url, proxy), delayMs >= 2 ? 100 : 200);
      const expected = direct.medianMs + 2 * delayMs;
      console.log(
        `SELECT 1, +${delayMs} ms each way: median ${r.medianMs.toFixed(2)} ms (p10 ${r.p10Ms.toFixed(2)}, ` +
          `p90 ${r.p90Ms.toFixed(2)}); direct + 2 × delay = ${expected.toFixed(2)} ms`,
      );
    } finally {
      await proxy.close();
    }
  }
}

async function main(): Promise<void> {
  for (const delayMs of [0, 1]) console.log(await checkBytes(delayMs));
  console.log(await checkBackpressure());
  await checkTiming(process.argv[2] ?? process.env.SASYNC_PG_URL ?? DEFAULT_PG_URL);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
