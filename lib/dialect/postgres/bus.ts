import type { Client, ClientConfig, Notification } from 'pg';
import { asyncScheduler, Subscription, timer, type SchedulerLike } from 'rxjs';
import type { DataSource } from 'typeorm';
import { BusListeners } from '../bus-listeners';
import { loadDriver } from '../load-driver';
import type { BusOptions, BusState, ChangeBus } from '../change-bus';
import { unref } from '../typeorm/pg-client';
import { pgPool } from '../typeorm/postgres-driver';
import { clock } from '../../clock';

/** The listening connection's name in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = 'sasync-listener';

/**
 * One connection attempt (a reconnection makes a new one): `ready` once
 * connected, `heard` the channels it LISTENs to, `syncing` while a LISTEN /
 * UNLISTEN loop runs (pg wants one statement at a time per client).
 */
interface Session {
  readonly client: Client;
  ready: boolean;
  readonly heard: Set<string>;
  syncing: boolean;
}

/**
 * The change bus of an initialized postgres DataSource: NOTIFY inside the
 * writer's transaction, LISTEN on one `pg.Client` of the bus's own (never a
 * pooled one: the pool would hand the listening session to someone else).
 * The bus opens that client for the first listener and ends it when the last
 * listener leaves, on close(), or when it drops (then reconnects with backoff
 * on `options.scheduler`). The caller releases what it holds: the functions
 * `listen()` returned, or the whole bus with close() (before the DataSource).
 */
export function openPgBus(ds: DataSource, options: BusOptions): ChangeBus {
  // Read now: a destroyed DataSource has no pool any more.
  const config = listenerConfig(ds);
  const { Client } = loadDriver('pg');
  const listeners = new BusListeners();
  const channels = listeners.channels;
  let session: Session | undefined;
  let retry: Subscription | undefined;
  let delay = options.initialDelay;
  // A connection dropped or never came up: notices may have been lost.
  let missed = false;
  let closing: Promise<void> | undefined;

  const setState = (next: BusState) => listeners.setState(next);

  function connect(): void {
    const s: Session = { client: new Client(config), ready: false, heard: new Set(), syncing: false };
    session = s;
    // Listening is no work of the program's own: a program that forgot
    // shutdown() still exits when its work is done (net applies this once the socket connects).
    unref(s.client);
    // Without an 'error' listener a dropped connection crashes the process.
    s.client.on('error', () => drop(s));
    s.client.on('end', () => drop(s));
    s.client.on('notification', (msg: Notification) =>
      listeners.deliverer(msg.channel, (listener) => listener.notice(msg.payload ?? ''))(),
    );
    setState('connecting');
    s.client
      .connect()
      .then(async () => {
        s.ready = true;
        // Again: with SSL the stream is a new TLS socket once connected.
        unref(s.client);
        await sync(s);
        if (session !== s) return;
        delay = options.initialDelay;
        setState('listening');
        if (!missed || session !== s) return;
        missed = false;
        listeners.deliverer(undefined, (listener) => listener.resync())();
      })
      .catch(() => drop(s));
  }

  /** The session's connection failed: end it, then retry after a backoff. */
  function drop(s: Session): void {
    if (session !== s) return; // ended by us, or already dropped
    session = undefined;
    missed = true;
    void release(s.client);
    setState('down');
    // An observer of 'down' may have closed the bus or removed the last listener.
    if (listeners.state !== 'down') return;
    const wait = delay;
    delay = Math.min(delay * 2, options.maxDelay);
    retry = laterUnref(wait, options.scheduler, () => {
      retry = undefined;
      connect();
    });
  }

  /** The next channel to LISTEN (listened to, not heard) or UNLISTEN (heard, no longer listened to). */
  const pending = (s: Session) =>
    [...channels.keys()].find((ch) => !s.heard.has(ch)) ?? [...s.heard].find((ch) => !channels.has(ch));

  /** LISTENs and UNLISTENs until the connection hears exactly the channels that have listeners. */
  async function sync(s: Session): Promise<void> {
    if (s.syncing) return; // the running loop will see the change
    s.syncing = true;
    try {
      for (let ch = pending(s); ch !== undefined && session === s; ch = pending(s)) {
        const on = channels.has(ch);
        await s.client.query(`${on ? 'LISTEN' : 'UNLISTEN'} "${ch.replace(/"/g, '""')}"`);
        if (on) s.heard.add(ch);
        else s.heard.delete(ch);
      }
    } finally {
      s.syncing = false;
    }
  }

  /** After a listener change: a connected session catches up (a failed statement counts as a drop). */
  function resubscribe(): void {
    const s = session;
    if (s?.ready) sync(s).catch(() => drop(s));
  }

  /** No connection wanted any more: cancels the reconnection and ends the client. */
  function stop(next: 'idle' | 'closed'): Promise<void> {
    retry?.unsubscribe();
    retry = undefined;
    const s = session;
    session = undefined;
    delay = options.initialDelay;
    missed = false;
    setState(next);
    return s ? release(s.client) : Promise.resolve();
  }

  return {
    async announce(runner, channel, payload) {
      // On the transaction's connection: postgres delivers on COMMIT only.
      await runner.query('SELECT pg_notify($1, $2)', [channel, payload]);
    },

    // This process hears its own notices through LISTEN like everyone else's.
    committed: () => undefined,

    listen(channel, listener) {
      const remove = listeners.add(channel, listener);
      // While down, the reconnection LISTENs to it; while connecting, connect() does.
      if (!session && !retry) connect();
      else resubscribe();
      return () => {
        if (remove() === undefined) return;
        if (channels.size === 0) void stop('idle');
        else resubscribe();
      };
    },

    get state() {
      return listeners.state;
    },

    onState: (observer) => listeners.onState(observer),

    close() {
      closing ??= (async () => {
        listeners.clear();
        await stop('closed');
        listeners.dropObservers();
      })();
      return closing;
    },
  };
}

/** Ends a client the bus no longer uses; never rejects, and leaves no listener on it. */
async function release(client: Client): Promise<void> {
  client.removeAllListeners('notification').removeAllListeners('end').removeAllListeners('error');
  // The socket may still fail while it closes: that must not crash the process.
  const ignore = () => undefined;
  client.on('error', ignore);
  await client.end().catch(ignore);
  client.off('error', ignore);
}

/** The pool's connection settings; pg-pool hides the password, which a spread would lose. */
function listenerConfig(ds: DataSource): ClientConfig {
  const config = pgPool(ds)?.options ?? {};
  // pg lets the connection string's parameters win over the fields: the
  // name must be set there too, or a URL's ?application_name= would name
  // the listener like the pool's sessions.
  const url = parseUrl(config.connectionString);
  const own = url?.searchParams.get('application_name') || config.application_name;
  // Named after the DataSource's own sessions where they have a name, so
  // that whoever looks at pg_stat_activity can tell whose listener it is.
  const application_name = own ? `${own}:${LISTENER_APPLICATION_NAME}`.slice(0, 63) : LISTENER_APPLICATION_NAME;
  if (url?.searchParams.has('application_name')) url.searchParams.set('application_name', application_name);
  return {
    ...config,
    ...(url ? { connectionString: url.toString() } : {}),
    password: config.password,
    application_name,
    // A hung connect would leave the bus 'connecting' forever; a timeout makes it a drop.
    connectionTimeoutMillis: config.connectionTimeoutMillis || 10_000,
    // The connection only reads: keepalives are what notice a peer that vanished.
    keepAlive: config.keepAlive ?? true,
  };
}

/** A URL connection string, or undefined (none, or another form pg accepts, such as a socket path). */
function parseUrl(connectionString: string | undefined): URL | undefined {
  if (!connectionString) return undefined;
  try {
    return new URL(connectionString);
  } catch {
    return undefined;
  }
}

/**
 * Calls `fn` after `ms` of `scheduler` time. On the default scheduler, a
 * timer on sasync's clock that does not hold the event loop (a reconnection is no reason
 * to keep a program alive); another (a virtual one in tests) keeps its own time.
 */
function laterUnref(ms: number, scheduler: SchedulerLike, fn: () => void): Subscription {
  if (scheduler !== asyncScheduler) return timer(ms, scheduler).subscribe(fn);
  const handle = clock.setTimeout(fn, ms, { unref: true });
  return new Subscription(() => clock.clearTimeout(handle));
}
