import net, { type AddressInfo } from 'node:net';
import { Client } from 'pg';
import { asapScheduler, lastValueFrom, VirtualTimeScheduler, type SchedulerLike } from 'rxjs';
import { AccessBroker } from '../../lib';
import { dialectFor } from '../../lib/dialect';
import type { BusListener, BusState, ChangeBus } from '../../lib/dialect/dialect';
import { until } from '../support/streams';
import { PG_URL, pgAvailable, postgres, sqliteFile, sqliteMemory, uniqueName } from '../support/targets';

const describePg = pgAvailable ? describe : describe.skip;

/** A listener that records what it is told. */
function recorder(): BusListener & { notices: string[]; resyncs: number } {
  const r = {
    notices: [] as string[],
    resyncs: 0,
    notice: (payload: string) => void r.notices.push(payload),
    resync: () => void r.resyncs++,
  };
  return r;
}

/** The broker's DataSource's bus, its state changes recorded. */
function openBus(
  broker: AccessBroker,
  scheduler: SchedulerLike = asapScheduler,
): { bus: ChangeBus; states: BusState[] } {
  const ds = broker.dataSource;
  const bus = dialectFor(ds.options).openBus(ds, { scheduler, initialDelay: 100, maxDelay: 400 });
  const states: BusState[] = [];
  bus.onState((s) => states.push(s));
  return { bus, states };
}

describe.each([sqliteMemory, sqliteFile])('in-process change bus [$name]', (t) => {
  let broker: AccessBroker;
  let bus: ChangeBus;
  let states: BusState[];
  beforeEach(async () => {
    broker = new AccessBroker(t.target());
    await broker.waitUntilRunning();
    ({ bus, states } = openBus(broker));
  });
  afterEach(async () => {
    await bus.close();
    await broker.shutdown();
  });

  it('delivers committed() to the listeners of that channel only, in order, past a listener that throws', async () => {
    const [a1, a2, b] = [recorder(), recorder(), recorder()];
    bus.listen('a', { notice: () => raise(), resync: () => undefined });
    bus.listen('a', a1);
    bus.listen('a', a2);
    bus.listen('b', b);
    bus.committed('a', '1');
    bus.committed('b', 'x');
    bus.committed('a', '2');
    bus.committed('c', 'nobody');
    await until(() => a2.notices.length === 2 && b.notices.length === 1, 'the notices arrived');
    expect(a1.notices).toEqual(['1', '2']);
    expect(a2.notices).toEqual(['1', '2']);
    expect(b.notices).toEqual(['x']);
  });

  it('announce() inside a transaction delivers nothing; resync() is never called', async () => {
    const r = recorder();
    bus.listen('a', r);
    await lastValueFrom(broker.transact((tx) => bus.announce(tx.queryRunner!, 'a', 'announced')));
    // Notices arrive in commit order: one for announce() would come before this one.
    bus.committed('a', 'p');
    await until(() => r.notices.includes('p'), 'the committed notice arrived');
    expect(r.notices).toEqual(['p']);
    expect(r.resyncs).toBe(0);
  });

  it('stops delivering to a removed listener, also a notice committed just before the removal', async () => {
    const [kept, removed] = [recorder(), recorder()];
    bus.listen('a', kept);
    const remove = bus.listen('a', removed);
    bus.committed('a', '1');
    remove();
    remove(); // a second call does nothing
    bus.committed('a', '2');
    await until(() => kept.notices.length === 2, 'the notices arrived');
    expect(removed.notices).toEqual([]);
  });

  it('is idle, listening while listened to, idle again, then closed; close() is idempotent; listen() after close throws', async () => {
    expect(bus.state).toBe('idle');
    const r = recorder();
    const removeA = bus.listen('a', r);
    const removeB = bus.listen('b', r);
    expect(bus.state).toBe('listening');
    removeA();
    expect(bus.state).toBe('listening');
    removeB();
    expect(bus.state).toBe('idle');
    bus.listen('a', r);
    bus.committed('a', 'dropped by close');
    await bus.close();
    await bus.close();
    // committed() queued its delivery as a microtask before close() was called: it has run by now.
    expect(r.notices).toEqual([]);
    expect(bus.state).toBe('closed');
    expect(states).toEqual(['listening', 'idle', 'listening', 'closed']);
    expect(() => bus.listen('a', r)).toThrow(/closed/);
  });
});

describePg('postgres change bus [postgres]', () => {
  let broker: AccessBroker;
  /** A plain session of the test's own: NOTIFY from outside, pg_stat_activity, pg_terminate_backend. */
  let outside: Client;
  const buses: ChangeBus[] = [];

  beforeAll(async () => {
    broker = new AccessBroker(postgres.target());
    outside = new Client({ connectionString: PG_URL });
    await Promise.all([broker.waitUntilRunning(), outside.connect()]);
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });
  afterAll(async () => {
    await outside.end();
    await broker.shutdown();
  });

  function pgBus(scheduler?: SchedulerLike, b = broker): { bus: ChangeBus; states: BusState[] } {
    const opened = openBus(b, scheduler);
    buses.push(opened.bus);
    return opened;
  }

  /** A listening bus on a fresh channel, connected. */
  async function listening(scheduler?: SchedulerLike) {
    const { bus, states } = pgBus(scheduler);
    const channel = uniqueName('ch');
    const r = recorder();
    const remove = bus.listen(channel, r);
    await until(() => bus.state === 'listening', 'the bus listens');
    return { bus, states, channel, r, remove };
  }

  /** The pids of the listener sessions whose last statement named `channel` (LISTEN or UNLISTEN). */
  async function listenerPids(channel: string): Promise<number[]> {
    const { rows } = await outside.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
       WHERE application_name = 'sasync-listener' AND pid <> pg_backend_pid() AND query LIKE $1`,
      [`%LISTEN "${channel}"`],
    );
    return rows.map((row) => row.pid);
  }

  async function terminate(channel: string): Promise<number> {
    const [pid] = await listenerPids(channel);
    expect(pid).toBeDefined();
    await outside.query('SELECT pg_terminate_backend($1)', [pid]);
    return pid!;
  }

  const notifyOutside = (channel: string, payload: string) =>
    outside.query('SELECT pg_notify($1, $2)', [channel, payload]);

  it('delivers a notice announced in a committed transaction, and none from a rolled-back one', async () => {
    const { bus, channel, r } = await listening();
    const other = recorder();
    bus.listen(uniqueName('other'), other);
    await lastValueFrom(broker.transact((tx) => bus.announce(tx.queryRunner!, channel, 'p')));
    await until(() => r.notices.length === 1, 'the committed notice arrived');
    expect(r.notices).toEqual(['p']);

    const rolledBack = broker.transact(async (tx) => {
      await bus.announce(tx.queryRunner!, channel, 'rolled back');
      throw new Error('roll back');
    });
    await expect(lastValueFrom(rolledBack)).rejects.toThrow(/roll back/);
    // Notices arrive in commit order: had the first been sent, it would come before this one.
    await lastValueFrom(broker.transact((tx) => bus.announce(tx.queryRunner!, channel, 'after')));
    await until(() => r.notices.length === 2, 'the second committed notice arrived');
    expect(r.notices).toEqual(['p', 'after']);
    expect(other.notices).toEqual([]);
    // committed() adds nothing: this process hears its own notices through LISTEN.
    bus.committed(channel, 'local');
    // A local delivery would not wait for a notice that makes a round trip through the server.
    await notifyOutside(channel, 'sentinel');
    await until(() => r.notices.includes('sentinel'), 'the sentinel arrived');
    expect(r.notices).toEqual(['p', 'after', 'sentinel']);
  });

  it('delivers NOTIFY from another connection, ~7000-byte payloads intact, to every listener of the channel', async () => {
    const { bus, channel, r } = await listening();
    const second = recorder();
    bus.listen(channel, { notice: () => raise(), resync: () => undefined });
    bus.listen(channel, second);
    await outside.query(`NOTIFY "${channel}", 'from outside'`);
    const big = Array.from({ length: 7000 }, (_, i) => String.fromCharCode(32 + (i % 95))).join('');
    await notifyOutside(channel, big);
    await until(() => second.notices.length === 2, 'both notices arrived');
    expect(r.notices).toEqual(['from outside', big]);
    expect(second.notices).toEqual(['from outside', big]);
    expect(bus.state).toBe('listening');
  });

  it('listens on one connection outside the pool; LISTENs to a new channel; UNLISTENs a channel left', async () => {
    const before = broker.connectionStats().open;
    const { bus, channel, r } = await listening();
    expect(broker.connectionStats().open).toBe(before);
    const [pid] = await listenerPids(channel);
    const late = uniqueName('late');
    const lateR = recorder();
    const removeLate = bus.listen(late, lateR);
    await until(
      async () => (await listenerPids(late)).includes(pid!),
      'the same connection LISTENs to the new channel',
    );
    await notifyOutside(late, 'late');
    await until(() => lateR.notices.length === 1, 'the notice on the new channel arrived');
    removeLate();
    await until(async () => {
      const { rows } = await outside.query('SELECT query FROM pg_stat_activity WHERE pid = $1', [pid]);
      return rows[0]?.query === `UNLISTEN "${late}"`;
    }, 'the channel left is UNLISTENed');
    await notifyOutside(channel, 'still');
    await until(() => r.notices.length === 1, 'the remaining channel still delivers');
    expect(lateR.notices).toEqual(['late']);
  });

  it('leaves no connection once the last listener is removed, and is idle', async () => {
    const { bus, states, channel, remove } = await listening();
    expect(await listenerPids(channel)).toHaveLength(1);
    remove();
    expect(bus.state).toBe('idle');
    await until(async () => (await listenerPids(channel)).length === 0, 'the listener connection is gone');
    expect(states).toEqual(['connecting', 'listening', 'idle']);
  });

  it('gives up a connection still being opened when its only listener leaves', async () => {
    const { bus, states } = pgBus();
    bus.listen(uniqueName('gone'), recorder())();
    expect(bus.state).toBe('idle');
    const channel = uniqueName('ch');
    const r = recorder();
    bus.listen(channel, r);
    await until(() => bus.state === 'listening', 'the bus listens');
    await notifyOutside(channel, 'p');
    await until(() => r.notices.length === 1, 'the notice arrived');
    expect(states).toEqual(['connecting', 'idle', 'connecting', 'listening']);
  });

  it('reconnects after its connection is killed, misses what was sent meanwhile, and asks listeners to resync', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { bus, states, channel, r } = await listening(scheduler);
    const oldPid = await terminate(channel);
    await until(() => bus.state === 'down', 'the bus sees the drop');
    await notifyOutside(channel, 'while down');
    // A listener that comes while down is LISTENed to on reconnection.
    const joined = uniqueName('joined');
    const joinedR = recorder();
    bus.listen(joined, joinedR);
    expect(scheduler.actions).toHaveLength(1);
    scheduler.flush();
    expect(scheduler.frame).toBe(100);
    await until(() => bus.state === 'listening', 'the bus listens again');
    expect(states).toEqual(['connecting', 'listening', 'down', 'connecting', 'listening']);
    expect(r.resyncs).toBe(1);
    expect(joinedR.resyncs).toBe(1);
    expect(await listenerPids(channel)).not.toContain(oldPid);
    await notifyOutside(channel, 'after');
    await notifyOutside(joined, 'joined');
    await until(() => r.notices.length === 1 && joinedR.notices.length === 1, 'the notices after reconnection arrived');
    expect(r.notices).toEqual(['after']);
    expect(joinedR.notices).toEqual(['joined']);
  });

  it('close() with a reconnection pending cancels it: no timer fires, no connection is opened', async () => {
    const scheduler = new VirtualTimeScheduler();
    const { bus, states, channel } = await listening(scheduler);
    await terminate(channel);
    await until(() => bus.state === 'down', 'the bus sees the drop');
    expect(scheduler.actions).toHaveLength(1);
    await bus.close();
    expect(scheduler.actions).toHaveLength(0);
    // A reconnection would open a new client as its timer fires, inside flush().
    const connect = jest.spyOn(Client.prototype, 'connect');
    try {
      scheduler.flush();
      expect(connect).not.toHaveBeenCalled();
    } finally {
      connect.mockRestore();
    }
    expect(bus.state).toBe('closed');
    expect(states).toEqual(['connecting', 'listening', 'down', 'closed']);
    expect(await listenerPids(channel)).toEqual([]);
    await bus.close();
    expect(() => bus.listen(channel, recorder())).toThrow(/closed/);
  });

  it('close() ends a live connection, is idempotent, and listen() afterwards throws', async () => {
    const { bus, states, channel, r } = await listening();
    await Promise.all([bus.close(), bus.close()]);
    await bus.close();
    expect(bus.state).toBe('closed');
    expect(states).toEqual(['connecting', 'listening', 'closed']);
    await until(async () => (await listenerPids(channel)).length === 0, 'the listener connection is gone');
    // A witness listening on the same channel shows when the notice has been delivered.
    const { bus: witness } = pgBus();
    const w = recorder();
    witness.listen(channel, w);
    await until(() => witness.state === 'listening', 'the witness listens');
    await notifyOutside(channel, 'too late');
    await until(() => w.notices.length === 1, 'the witness heard the notice');
    expect(r.notices).toEqual([]);
    expect(() => bus.listen(channel, r)).toThrow(/the change bus is closed/);
  });

  describe('while the server refuses connections', () => {
    let relay: Relay;
    let relayed: AccessBroker;
    beforeEach(async () => {
      relay = await openRelay(new URL(PG_URL));
      const url = new URL(PG_URL);
      url.host = `127.0.0.1:${relay.port}`;
      relayed = new AccessBroker(url.toString());
      await relayed.waitUntilRunning();
    });
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.close()));
      await relayed.shutdown();
      await relay.close();
    });

    it('retries a failed first connect with doubling delays up to maxDelay, then resyncs its listeners', async () => {
      const scheduler = new VirtualTimeScheduler();
      const { bus, states } = pgBus(scheduler, relayed);
      relay.refuse = true;
      const channel = uniqueName('ch');
      const r = recorder();
      bus.listen(channel, r);
      const frames: number[] = [];
      for (let attempt = 0; attempt < 4; attempt++) {
        await until(() => bus.state === 'down', 'the connect failed');
        scheduler.flush();
        frames.push(scheduler.frame);
      }
      // Waits of 100, 200, 400, then 400 (maxDelay) virtual ms.
      expect(frames).toEqual([100, 300, 700, 1100]);
      await until(() => bus.state === 'down', 'the connect failed');
      relay.refuse = false;
      scheduler.flush();
      await until(() => bus.state === 'listening', 'the bus listens');
      expect(scheduler.frame).toBe(1500);
      expect(states).toEqual(['connecting', ...Array(5).fill(['down', 'connecting']).flat(), 'listening']);
      expect(r.resyncs).toBe(1);
      await notifyOutside(channel, 'p');
      await until(() => r.notices.length === 1, 'the notice arrived');
    });
  });
});

function raise(): never {
  throw new Error('a listener that fails');
}

/** A TCP relay to postgres that can turn new connections away: a real refused session, no mock. */
interface Relay {
  readonly port: number;
  /** New connections are closed at once (those open stay). */
  refuse: boolean;
  close(): Promise<void>;
}

async function openRelay(target: URL): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inbound) => {
    if (relay.refuse) return void inbound.destroy();
    const outbound = net.connect(Number(target.port || 5432), target.hostname);
    const end = () => {
      for (const s of [inbound, outbound]) {
        s.destroy();
        sockets.delete(s);
      }
    };
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', end).on('close', end);
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relay: Relay = {
    port: (server.address() as AddressInfo).port,
    refuse: false,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return relay;
}

describePg('the listening connection is named apart [postgres]', () => {
  /** application_name of this process's sessions on the test database whose name starts with `app`. */
  async function sessions(outside: Client, app: string): Promise<{ name: string; listening: boolean }[]> {
    const { rows } = await outside.query<{ application_name: string; query: string }>(
      `SELECT application_name, query FROM pg_stat_activity WHERE application_name LIKE $1 ORDER BY 1`,
      [`${app}%`],
    );
    return rows.map((r) => ({ name: r.application_name, listening: /^LISTEN /.test(r.query) }));
  }

  it.each([
    ['in the URL (?application_name=)', (app: string) => `${PG_URL}?application_name=${app}`],
    [
      'in DataSourceOptions (applicationName)',
      (app: string) => ({ type: 'postgres' as const, url: PG_URL, applicationName: app }),
    ],
  ])('when the name is set %s: "<name>:sasync-listener", pool sessions keep the name', async (_, target) => {
    const app = uniqueName('app');
    const broker = new AccessBroker(target(app));
    const outside = new Client({ connectionString: PG_URL });
    await Promise.all([broker.waitUntilRunning(), outside.connect()]);
    const { bus } = openBus(broker);
    try {
      bus.listen(uniqueName('ch'), recorder());
      await until(() => bus.state === 'listening', 'the bus listens');
      await lastValueFrom(broker.query('SELECT 1 AS one'));
      const seen = await sessions(outside, app);
      expect(seen.filter((s) => s.listening)).toEqual([{ name: `${app}:sasync-listener`, listening: true }]);
      expect(seen.filter((s) => !s.listening).map((s) => s.name)).toContain(app);
    } finally {
      await bus.close();
      await outside.end();
      await broker.shutdown();
    }
  });
});
