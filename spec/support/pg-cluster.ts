import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

/**
 * A private postgres 15 cluster for fault specs: its own data directory in a
 * temp dir, its own free port, its own processes. Specs stop, restart, freeze
 * and terminate backends of THIS cluster only; the shared server on 5432 is
 * never touched. Create one per spec file (beforeAll) and `remove()` it in
 * afterAll: creating one costs about a second.
 */
export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust auth). */
  readonly url: string;
  readonly port: number;
  /** The data directory. */
  readonly dataDir: string;
  /** The postmaster's pid (read from postmaster.pid); undefined when stopped. */
  pid(): number | undefined;
  /** Whether the postmaster is running (frozen counts as running). */
  running(): boolean;
  start(): Promise<void>;
  /** pg_ctl stop -w; thaws first, since a frozen server would never stop. */
  stop(options?: { mode?: 'smart' | 'fast' | 'immediate' }): Promise<void>;
  restart(options?: { mode?: 'smart' | 'fast' | 'immediate' }): Promise<void>;
  /** SIGSTOP the postmaster and all its children (the backends): TCP still accepts, nothing answers. */
  freeze(): void;
  /** SIGCONT everything `freeze()` stopped (and any child born since). */
  thaw(): void;
  /** pg_terminate_backend for every backend with this application_name (or this pid); returns how many. */
  terminate(who: string | number): Promise<number>;
  /** One query on a fresh connection to the cluster (for checks and setup). */
  query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
  /** Pids of the backends with this application_name. */
  backends(applicationName: string): Promise<number[]>;
  /** A streaming replica made with pg_basebackup -R, started on its own port. */
  replica(): Promise<PgCluster>;
  /** Stops (immediately) and deletes the cluster; safe to call twice, never throws. */
  remove(): Promise<void>;
}

/** The directory of postgres 15's own binaries (SASYNC_PG_BIN overrides). */
export const PG_BIN = process.env.SASYNC_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Whether the binaries are there: fault specs skip themselves (loudly) when not. */
export const pgClusterAvailable = fs.existsSync(path.join(PG_BIN, 'initdb'));

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;

/** Runs a postgres binary, as the `postgres` OS user when we are root (postgres refuses to run as root). */
async function pgExec(bin: string, args: string[], timeout = 60_000): Promise<string> {
  const file = path.join(PG_BIN, bin);
  const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
  try {
    const { stdout } = await run(cmd, argv, { timeout, cwd: os.tmpdir() });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string; stdout?: string };
    throw new Error(`${bin} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`, {
      cause: err,
    });
  }
}

/** A port nobody listens on right now (the kernel's pick). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Pids of the direct children of `ppid`, from /proc (the postmaster's backends and auxiliaries). */
function childrenOf(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** A process's state letter from /proc (R running, S sleeping, T stopped), or undefined once it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name in parentheses may hold spaces: the state follows its closing one.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Returns once every process in `pids` is stopped (or gone): SIGSTOP is
 * delivered asynchronously, and a caller that goes on at once may still find
 * a backend running. A zombie counts as gone: a backend that exited just
 * before the freeze stays one until the (now stopped) postmaster reaps it.
 * Bounded: a process not stopped after 5 s is an error.
 */
function awaitStopped(pids: Iterable<number>): void {
  const deadline = Date.now() + 5000;
  const settled = new Set([undefined, 'T', 't', 'Z']);
  for (const pid of pids) {
    for (let state = processState(pid); !settled.has(state); state = processState(pid)) {
      if (Date.now() > deadline) throw new Error(`process ${pid} did not stop after SIGSTOP (state ${state})`);
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

const live = new Set<Cluster>();
let exitHooked = false;

/** Last resort when a spec forgot remove() or crashed: stop and delete every cluster synchronously. */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const cluster of live) cluster.removeSync();
  });
}

class Cluster implements PgCluster {
  readonly url: string;
  #frozen = new Set<number>();
  #removed = false;
  #reaper: ChildProcess | undefined;

  constructor(
    readonly root: string,
    readonly dataDir: string,
    readonly port: number,
  ) {
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    live.add(this);
  }

  pid(): number | undefined {
    try {
      const first = fs.readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
      const pid = Number(first);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  running(): boolean {
    const pid = this.pid();
    if (pid === undefined) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  async start(): Promise<void> {
    const log = path.join(this.root, 'server.log');
    await pgExec('pg_ctl', ['-D', this.dataDir, '-l', log, '-w', '-t', '60', 'start']);
    this.#reaper ??= this.#watch();
  }

  /**
   * A detached shell that stops and deletes the cluster once this process is
   * gone, however it died (a killed test run runs no 'exit' hook).
   */
  #watch(): ChildProcess {
    const pgCtl = `${asRoot ? 'runuser -u postgres -- ' : ''}'${path.join(PG_BIN, 'pg_ctl')}'`;
    const script = [
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
      `P=$(head -1 '${this.dataDir}/postmaster.pid' 2>/dev/null)`,
      `if [ -n "$P" ]; then kill -CONT $P $(pgrep -P $P) 2>/dev/null; fi`,
      `${pgCtl} -D '${this.dataDir}' -m immediate -w -t 20 stop >/dev/null 2>&1`,
      `rm -rf '${this.root}'`,
    ].join('; ');
    const reaper = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' });
    reaper.unref();
    return reaper;
  }

  async stop({ mode = 'fast' }: { mode?: 'smart' | 'fast' | 'immediate' } = {}): Promise<void> {
    this.thaw();
    if (!this.running()) return;
    await pgExec('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async restart(options?: { mode?: 'smart' | 'fast' | 'immediate' }): Promise<void> {
    await this.stop(options);
    await this.start();
  }

  freeze(): void {
    const pid = this.pid();
    if (pid === undefined) throw new Error('the private cluster is not running');
    // The postmaster first, so that it forks no new backend meanwhile.
    signal(pid, 'SIGSTOP');
    this.#frozen.add(pid);
    for (const child of childrenOf(pid)) {
      signal(child, 'SIGSTOP');
      this.#frozen.add(child);
    }
    awaitStopped(this.#frozen);
  }

  thaw(): void {
    const pid = this.pid();
    const all = new Set(this.#frozen);
    if (pid !== undefined) for (const child of childrenOf(pid)) all.add(child);
    this.#frozen.clear();
    // Backends before the postmaster: they are what clients wait on.
    for (const p of all) if (p !== pid) signal(p, 'SIGCONT');
    if (pid !== undefined) signal(pid, 'SIGCONT');
  }

  async query<T = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]> {
    const client = new Client({
      connectionString: this.url,
      connectionTimeoutMillis: 10_000,
      application_name: 'pg-cluster',
    });
    await client.connect();
    try {
      return (await client.query(sql, values)).rows as T[];
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async backends(applicationName: string): Promise<number[]> {
    const rows = await this.query<{ pid: number }>(
      'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
      [applicationName],
    );
    return rows.map((r) => r.pid);
  }

  async terminate(who: string | number): Promise<number> {
    const [where, value] = typeof who === 'number' ? ['pid = $1', who] : ['application_name = $1', who];
    const rows = await this.query<{ ok: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE ${where} AND pid <> pg_backend_pid()`,
      [value],
    );
    return rows.filter((r) => r.ok).length;
  }

  async replica(): Promise<PgCluster> {
    const root = makeRoot('sasync-pg-replica-');
    const dataDir = path.join(root, 'data');
    const port = await freePort();
    await pgExec('pg_basebackup', ['-D', dataDir, '-R', '-X', 'stream', '-d', this.url, '--no-sync']);
    // Later lines of postgresql.auto.conf win over the primary's copied settings.
    fs.appendFileSync(
      path.join(dataDir, 'postgresql.auto.conf'),
      `\nport = ${port}\nunix_socket_directories = '${root}'\n`,
    );
    const replica = new Cluster(root, dataDir, port);
    try {
      await replica.start();
    } catch (err) {
      await replica.remove();
      throw err;
    }
    return replica;
  }

  async remove(): Promise<void> {
    if (this.#removed) return;
    try {
      await this.stop({ mode: 'immediate' });
    } catch {
      // removeSync kills what is left.
    }
    this.removeSync();
  }

  /** Synchronous stop and delete: safe in a process 'exit' hook. */
  removeSync(): void {
    if (this.#removed) return;
    this.#removed = true;
    live.delete(this);
    if (this.#reaper?.pid !== undefined) signal(this.#reaper.pid, 'SIGKILL');
    this.thaw();
    const pid = this.pid();
    if (pid !== undefined && this.running()) {
      const file = path.join(PG_BIN, 'pg_ctl');
      const args = ['-D', this.dataDir, '-m', 'immediate', '-w', '-t', '20', 'stop'];
      const result = asRoot
        ? spawnSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'ignore', timeout: 25_000 })
        : spawnSync(file, args, { stdio: 'ignore', timeout: 25_000 });
      if (result.status !== 0) {
        for (const child of childrenOf(pid)) signal(child, 'SIGKILL');
        signal(pid, 'SIGKILL');
      }
    }
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** A temp dir the postgres user owns when we are root. */
function makeRoot(prefix: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (asRoot) {
    const { uid, gid } = postgresUser();
    fs.chownSync(root, uid, gid);
  }
  fs.chmodSync(root, 0o700);
  return root;
}

function postgresUser(): { uid: number; gid: number } {
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root, but there is no `postgres` OS user to run the private cluster as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * initdb (no fsync, trust auth, C locale), a small fast configuration on a
 * free port, started with `pg_ctl -w`. Retries once on a port taken meanwhile.
 */
export async function createCluster(): Promise<PgCluster> {
  hookExit();
  const root = makeRoot('sasync-pg-');
  const dataDir = path.join(root, 'data');
  try {
    await pgExec('initdb', [
      '-D',
      dataDir,
      '--no-sync',
      '--auth=trust',
      '-U',
      'postgres',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-instructions',
    ]);
  } catch (err) {
    fs.rmSync(root, { recursive: true, force: true });
    throw err;
  }
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = [
      `port = ${port}`,
      `listen_addresses = '127.0.0.1'`,
      `unix_socket_directories = '${root}'`,
      'fsync = off',
      // synchronous_commit stays on: an immediate (crash) restart must keep every acknowledged COMMIT.
      'full_page_writes = off',
      'shared_buffers = 16MB',
      'max_connections = 40',
      'max_wal_senders = 4',
      'logging_collector = off',
    ];
    fs.writeFileSync(path.join(dataDir, 'postgresql.auto.conf'), conf.join('\n') + '\n');
    const cluster = new Cluster(root, dataDir, port);
    try {
      await cluster.start();
      return cluster;
    } catch (err) {
      live.delete(cluster);
      if (attempt >= 2) {
        await cluster.remove();
        throw err;
      }
    }
  }
}
