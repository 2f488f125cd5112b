import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';
import { CacheRegion } from '../../lib';
import { PersistentBackend } from '../../lib/cache/persistent-backend';
import { fileAndPg, PG_URL, uniqueName } from '../support/targets';

const CHILD = path.join(__dirname, 'fixtures', 'cache-child.ts');
const PROCESSES = 4;

interface Outcome {
  creatorCalls: number;
  distinct: string[];
  freshReads: number;
  locks: number;
}

/** Starts the child fixture; `lines` resolves each printed line in turn. */
function startChild(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  }) as ChildProcessWithoutNullStreams;
  let out = '';
  let err = '';
  const waiting = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const check of waiting) check();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  /** Resolves with the first printed line that matches, rejects if the child exits first. */
  const line = (match: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = out.split('\n').find(match);
        if (found === undefined) return;
        waiting.delete(check);
        resolve(found);
      };
      waiting.add(check);
      check();
      void exited.then((code) => reject(new Error(`child exited ${code} before the line: ${err}`)));
    });
  return { child, line, exited };
}

describe.each(fileAndPg)('a persistent region across processes [$name]', (t) => {
  let target: string;
  let group: string;
  let backend: PersistentBackend;
  let region: CacheRegion<unknown>;

  beforeEach(async () => {
    target = t.target();
    group = uniqueName('cache');
    backend = new PersistentBackend(target, { group });
    region = new CacheRegion({ backend, expiration: 60_000, grace: 0 });
  });
  afterEach(() => region.close());

  it(`4 processes x 1,000 concurrent getOrCreate of one expired key call the creator exactly once [${t.name}]`, async () => {
    // Made an hour ago: expired for every process.
    await backend.set('report', { value: { by: 0, n: 0 }, createdAt: Date.now() - 3_600_000 });
    const children = Array.from({ length: PROCESSES }, () => startChild([target, group, 'stampede', '30000']));
    try {
      await Promise.all(children.map((c) => c.line((l) => l === 'ready')));
      for (const c of children) c.child.stdin.end('go\n');
      const outcomes = await Promise.all(
        children.map(async (c) => JSON.parse(await c.line((l) => l.startsWith('{'))) as Outcome),
      );
      expect(outcomes.reduce((sum, o) => sum + o.creatorCalls, 0)).toBe(1);
      // Every caller of every process got the one value made.
      const values = new Set(outcomes.flatMap((o) => o.distinct));
      expect(values.size).toBe(1);
      expect(JSON.parse([...values][0]!)).toMatchObject({ n: 1 });
      // One lock taken and one read under it per process: the stampede is one creator, not 4,000.
      for (const o of outcomes) expect([o.locks, o.freshReads]).toEqual([1, 1]);
      expect(await Promise.all(children.map((c) => c.exited))).toEqual([0, 0, 0, 0]);
    } finally {
      for (const c of children) c.child.kill('SIGKILL');
    }
  }, 120_000);

  it(`releases the lock of a process SIGKILLed while its creator runs [${t.name}]`, async () => {
    // On sqlite the lock is a row: its lease (deliberately short here) is what frees it.
    const holder = startChild([target, group, 'hold', '500']);
    await holder.line((l) => l === 'creating');
    if (t.dialect === 'postgres') expect(await cacheLocksHeld()).toBe(1);
    holder.child.kill('SIGKILL');
    await holder.exited;
    expect(await region.getOrCreate('held', () => 'made after the kill')).toBe('made after the kill');
    // On postgres, the session lock died with the killed process's connection.
    if (t.dialect === 'postgres') expect(await cacheLocksHeld()).toBe(0);
  }, 60_000);
});

/** Cache locks held now by sasync lock sessions (application_name sasync-locks): only the holder's, in this test. */
async function cacheLocksHeld(): Promise<number> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.classid = $1 AND a.application_name = 'sasync-locks'`,
      [0x5a5c],
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}
