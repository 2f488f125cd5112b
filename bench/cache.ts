/**
 * Cache regions (`npm run bench:cache`, one run): cached getOrCreate hits
 * per second against a plain Map and lru-cache, and the database work of a
 * 4 × 1,000 stampede on one expired key (sqlite file and postgres).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CacheRegion, MemoryBackend, PersistentBackend } from '../lib';

const KEYS = 1000;
const LOOKUPS = 1_000_000;
const ROUNDS = 5;
const PG_URL = process.env.SASYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** lru-cache as installed (a transitive dependency, version 5's API: get/set). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LRU = require('lru-cache') as new (options: { max: number }) => {
  get(key: string): unknown;
  set(key: string, value: unknown): void;
};

const keys = Array.from({ length: KEYS }, (_, i) => `key-${i}`);

/** A subject of the hit benchmark: one pass of LOOKUPS lookups, returning a sum that is used. */
type Pass = () => Promise<number> | number;

/**
 * Lookups per second of each subject, best of ROUNDS. The rounds are
 * interleaved (every subject once per round) so that a busy machine slows
 * them alike rather than whichever ran during a spike.
 */
async function rates(subjects: readonly (readonly [string, Pass])[]): Promise<[string, number][]> {
  const best = subjects.map(() => 0);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [, run]] of subjects.entries()) {
      const start = performance.now();
      const sink = await run();
      const seconds = (performance.now() - start) / 1000;
      if (sink < 0) throw new Error('unreachable: keeps the loop from being optimised away');
      best[i] = Math.max(best[i]!, LOOKUPS / seconds);
    }
  }
  return subjects.map(([name], i) => [name, best[i]!]);
}

async function hits(): Promise<[string, number][]> {
  const map = new Map(keys.map((k, i) => [k, i]));
  const lru = new LRU({ max: KEYS * 2 });
  for (const [i, k] of keys.entries()) lru.set(k, i);
  const region = new CacheRegion<number>({ backend: new MemoryBackend() });
  for (const [i, k] of keys.entries()) await region.set(k, i);
  // Entries that expire: a hit must read the clock.
  const expiring = new CacheRegion<number>({ backend: new MemoryBackend(), expiration: 3_600_000 });
  for (const [i, k] of keys.entries()) await expiring.set(k, i);
  const creator = () => -1;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-bench-cache-')), 'c.sqlite');
  const persistent = new CacheRegion<number>({ backend: new PersistentBackend(`sqlite:${file}`) });
  for (const [i, k] of keys.entries()) await persistent.set(k, i);
  const rows = await rates([
    [
      'Map.get (sync)',
      () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += map.get(keys[i % KEYS]!)!;
        return s;
      },
    ],
    [
      'lru-cache get (sync)',
      () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += lru.get(keys[i % KEYS]!) as number;
        return s;
      },
    ],
    [
      'await Promise.resolve(Map.get)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += await Promise.resolve(map.get(keys[i % KEYS]!)!);
        return s;
      },
    ],
    [
      'await region.getOrCreate (MemoryBackend)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += await region.getOrCreate(keys[i % KEYS]!, creator);
        return s;
      },
    ],
    [
      'await region.getOrCreate (MemoryBackend, expiration 1 h)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += await expiring.getOrCreate(keys[i % KEYS]!, creator);
        return s;
      },
    ],
    [
      'await region.getOrCreate (PersistentBackend, memory hit)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) s += await persistent.getOrCreate(keys[i % KEYS]!, creator);
        return s;
      },
    ],
    [
      'region.peek ?? await region.getOrCreate (MemoryBackend)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) {
          const key = keys[i % KEYS]!;
          s += region.peek(key) ?? (await region.getOrCreate(key, creator));
        }
        return s;
      },
    ],
    [
      'region.peek ?? await region.getOrCreate (MemoryBackend, expiration 1 h)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) {
          const key = keys[i % KEYS]!;
          s += expiring.peek(key) ?? (await expiring.getOrCreate(key, creator));
        }
        return s;
      },
    ],
    [
      'region.peek ?? await region.getOrCreate (PersistentBackend, memory hit)',
      async () => {
        let s = 0;
        for (let i = 0; i < LOOKUPS; i++) {
          const key = keys[i % KEYS]!;
          s += persistent.peek(key) ?? (await persistent.getOrCreate(key, creator));
        }
        return s;
      },
    ],
  ]);
  await persistent.close();
  return rows;
}

interface ChildOutcome {
  creatorCalls: number;
  statements: number;
  lockStatements: number;
}

/** 4 processes × 1,000 concurrent getOrCreate of one expired key. */
async function stampede(url: string): Promise<ChildOutcome[]> {
  const group = `bench-cache-${process.pid}-${Date.now()}`;
  const setup = new PersistentBackend(url, { group });
  await setup.set('report', { value: { by: 0 }, createdAt: Date.now() - 3_600_000 });
  await setup.close();
  const children = Array.from({ length: 4 }, () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'cache-child.ts'), url, group], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    const lines: ((l: string) => boolean)[] = [];
    const seen = new Promise<void>((resolve) => lines.push((l) => (l === 'ready' ? (resolve(), true) : false)));
    const result = new Promise<ChildOutcome>((resolve, reject) => {
      child.on('exit', (code) => (code === 0 ? undefined : reject(new Error(`stampede child exited ${code}`))));
      lines.push((l) => (l.startsWith('{') ? (resolve(JSON.parse(l) as ChildOutcome), true) : false));
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      for (const l of out.split('\n')) for (const check of lines) check(l);
    });
    return { child, seen, result };
  });
  await Promise.all(children.map((c) => c.seen));
  for (const c of children) c.child.stdin.end('go\n');
  return Promise.all(children.map((c) => c.result));
}

async function main(): Promise<void> {
  const rows = await hits();
  const lru = rows[1]![1];
  console.log(
    '| lookup of a cached key (1,000 keys, 1,000,000 lookups, best of 5 interleaved rounds) | per second | × lru-cache |',
  );
  console.log('|---|---:|---:|');
  for (const [what, perSecond] of rows) {
    console.log(`| ${what} | ${Math.round(perSecond).toLocaleString('en')} | ${(perSecond / lru).toFixed(2)} |`);
  }
  console.log();
  console.log(
    '| 4 processes × 1,000 getOrCreate of one expired key | creator calls | statements (all processes) | advisory lock statements |',
  );
  console.log('|---|---:|---:|---:|');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-bench-cache-')), 'stampede.sqlite');
  for (const [name, url] of [
    ['sqlite file', `sqlite:${file}`],
    ['postgres', PG_URL],
  ] as const) {
    const outcomes = await stampede(url);
    const sum = (f: (o: ChildOutcome) => number) => outcomes.reduce((s, o) => s + f(o), 0);
    console.log(
      `| ${name} | ${sum((o) => o.creatorCalls)} | ${sum((o) => o.statements)} (${outcomes.map((o) => o.statements).join(' + ')}) | ${sum((o) => o.lockStatements)} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
