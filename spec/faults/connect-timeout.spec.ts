import net from 'node:net';
import type { DataSourceOptions } from 'typeorm';
import { AccessBroker, DatabaseError, resolveTarget } from '../../lib';
import { PG_URL, pgAvailable } from '../support/targets';

/** How late after the connect timeout the failure may come (a loaded machine). */
const MARGIN = 1500;

/** A server that accepts TCP connections and never says a word. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** The start-up of a broker on `target` fails with DatabaseError within `limit` ms; so does its shutdown. */
async function failsWithin(target: string | DataSourceOptions, limit: number): Promise<DatabaseError> {
  const broker = new AccessBroker(target);
  const start = Date.now();
  let error: unknown;
  try {
    await broker.waitUntilRunning();
  } catch (err) {
    error = err;
  }
  expect(Date.now() - start).toBeLessThan(limit + MARGIN);
  expect(error).toBeInstanceOf(DatabaseError);
  await broker.shutdown();
  expect(Date.now() - start).toBeLessThan(limit + MARGIN);
  return error as DatabaseError;
}

/** Connecting is bounded: a server that never answers gives DatabaseError within the connect timeout. */
describe('connect timeout [postgres]', () => {
  let server: Awaited<ReturnType<typeof silentServer>>;
  beforeAll(async () => {
    server = await silentServer();
  });
  afterAll(() => server?.close());

  it('?connect_timeout=N in the URL (seconds, as libpq) bounds the start-up [postgres]', async () => {
    const error = await failsWithin(`postgres://postgres@127.0.0.1:${server.port}/db?connect_timeout=1`, 1000);
    expect(error.message).toMatch(/cannot open/);
    expect(error.message).toMatch(/timeout/);
  });

  it('connectTimeoutMS in DataSourceOptions bounds the start-up [postgres]', async () => {
    await failsWithin(
      { type: 'postgres', url: `postgres://postgres@127.0.0.1:${server.port}/db`, connectTimeoutMS: 700 },
      700,
    );
  });

  it('shutdown() called while the start-up waits on the server resolves within the timeout [postgres]', async () => {
    const broker = new AccessBroker(`postgres://postgres@127.0.0.1:${server.port}/db?connect_timeout=1`);
    const start = Date.now();
    await broker.shutdown();
    expect(Date.now() - start).toBeLessThan(1000 + MARGIN);
    await expect(broker.waitUntilRunning()).rejects.toBeInstanceOf(DatabaseError);
  });

  it('a connect_timeout that is not a whole number of seconds is refused at once, naming the forms [postgres]', () => {
    for (const bad of ['x', '-1', '1.5', ''])
      expect(() => resolveTarget(`postgres://h/db?connect_timeout=${bad}`)).toThrow(DatabaseError);
    expect(resolveTarget('postgres://h/db?connect_timeout=7').label).toContain('connect_timeout=7');
  });

  (pgAvailable ? it : it.skip)(
    'the default is 10,000 ms, and a URL setting is kept apart from others [postgres]',
    async () => {
      const plain = new AccessBroker(PG_URL);
      const quick = new AccessBroker(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}connect_timeout=3`);
      try {
        await Promise.all([plain.waitUntilRunning(), quick.waitUntilRunning()]);
        expect((plain.dataSource.options as { connectTimeoutMS?: number }).connectTimeoutMS).toBe(10_000);
        expect((quick.dataSource.options as { connectTimeoutMS?: number }).connectTimeoutMS).toBe(3000);
      } finally {
        await plain.shutdown();
        await quick.shutdown();
      }
    },
  );
});
