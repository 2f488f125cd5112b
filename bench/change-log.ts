// The change log's costs (issue 13), run by hand against any build of sasync:
//   tsx bench/change-log.ts throughput <lib dir> <target>
//   tsx bench/change-log.ts queries <lib dir> <postgres url>
//   tsx bench/change-log.ts latency <lib dir> <target> <writes per s>
//   tsx bench/change-log.ts compare <lib dir>,<lib dir>,... <target> [rounds, default 12]
// <lib dir> is a sasync lib/ (this branch's, or one without the log to compare).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';

type Dict = {
  set(k: string, v: unknown): Promise<void>;
  update(e: Record<string, unknown>): Promise<void>;
  loadAll(): Promise<Map<string, unknown>>;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
  changes$: { subscribe(fn: (c: { key: unknown; value: unknown; origin: string }) => void): unknown };
};
type Lib = { PersistentDict: new (g: string, t: string) => Dict };

const [mode = '', libDir = 'lib', target = '', extra = ''] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the lib to measure is chosen at run time
const load = (): Lib => require(path.resolve(libDir)) as Lib;
const group = () => `bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

function child(args: string[]) {
  const c = spawn(process.execPath, ['--import', 'tsx', __filename, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: c.stdout });
  return { c, lines };
}

async function throughput(): Promise<void> {
  const { PersistentDict } = load();
  const d = new PersistentDict(group(), target);
  await d.loadAll();
  const rates: Record<string, number[]> = { 'one awaited set per transaction': [], 'update() of 100 keys': [] };
  for (let round = 0; round < 5; round++) {
    let t = now();
    for (let i = 0; i < 300; i++) await d.set(`s${i}`, { round, i });
    rates['one awaited set per transaction']!.push((300 / (now() - t)) * 1000);
    t = now();
    for (let b = 0; b < 20; b++) {
      await d.update(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`u${i}`, { round, b, i }])));
    }
    rates['update() of 100 keys']!.push((2000 / (now() - t)) * 1000);
  }
  for (const [what, xs] of Object.entries(rates)) console.log(`${what}: median ${Math.round(pct(xs, 0.5))} writes/s`);
  await d.shutdown();
}

/** Counts every statement pg sends in this process (a patched Client.prototype.query). */
function countPgQueries(): () => number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pg = require('pg') as { Client: { prototype: { query: (...a: unknown[]) => unknown } } };
  let n = 0;
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: unknown, ...a: unknown[]) {
    n++;
    return original.apply(this, a);
  };
  return () => n;
}

async function queries(): Promise<void> {
  const count = countPgQueries();
  const { PersistentDict } = load();
  const g = group();
  const dicts = Array.from({ length: 10 }, () => new PersistentDict(g, target));
  for (const d of dicts) await d.loadAll();
  const N = 1000;
  let heard = 0;
  const all = new Promise<void>((resolve) => {
    for (const d of dicts) {
      d.changes$.subscribe((c) => {
        if (c.origin === 'remote' && c.value === N - 1 && ++heard === dicts.length) resolve();
      });
    }
  });
  const w = child(['writer', libDir, target, g, String(N)]);
  await new Promise<void>((resolve) => w.lines.once('line', () => resolve()));
  const before = count();
  w.c.stdin.write('go\n');
  await all;
  console.log(`queries in the listening process for ${N} remote changes, 10 dicts: ${count() - before}`);
  for (const d of dicts) await d.shutdown();
}

/** The child of `queries` and `latency`: sets w0 … w(N-1), awaited one by one or paced, reporting commit times. */
async function writer(): Promise<void> {
  const [g = '', n = '', perSecond = ''] = process.argv.slice(5);
  const { PersistentDict } = load();
  const d = new PersistentDict(g, target);
  await d.loadAll();
  console.log('ready');
  await new Promise<void>((resolve) =>
    readline.createInterface({ input: process.stdin }).once('line', () => resolve()),
  );
  const committed: number[] = [];
  if (!perSecond) for (let i = 0; i < Number(n); i++) await d.set(`w${i}`, i);
  else {
    const gap = 1000 / Number(perSecond);
    const start = now();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < Number(n); i++) {
      while (now() < start + i * gap) await new Promise((r) => setImmediate(r));
      writes.push(d.set(`w${i}`, i).then(() => void (committed[i] = now())));
    }
    await Promise.all(writes);
  }
  console.log(JSON.stringify(committed));
  await d.shutdown();
}

async function latency(): Promise<void> {
  const { PersistentDict } = load();
  const g = group();
  const d = new PersistentDict(g, target);
  await d.loadAll();
  const N = Number(extra) * 3;
  const emitted: number[] = [];
  d.changes$.subscribe((c) => {
    if (c.origin === 'remote' && typeof c.value === 'number') emitted[c.value] ??= now();
  });
  const w = child(['writer', libDir, target, g, String(N), extra]);
  const lines: string[] = [];
  w.lines.on('line', (l) => lines.push(l));
  while (lines.length < 1) await new Promise((r) => setTimeout(r, 10));
  w.c.stdin.write('go\n');
  await new Promise<void>((resolve) => w.c.on('exit', () => resolve()));
  const committed = JSON.parse(lines[1]!) as number[];
  await new Promise((r) => setTimeout(r, 500));
  const lags = committed.map((t, i) => (emitted[i] ?? NaN) - t).filter((x) => !Number.isNaN(x));
  console.log(
    `${extra} writes/s for 3 s: ${lags.length}/${N} seen, commit-to-emit p50 ${pct(lags, 0.5).toFixed(1)} ms, p99 ${pct(lags, 0.99).toFixed(1)} ms`,
  );
  await d.shutdown();
}

/**
 * Several builds in one process, their rounds interleaved (A B C A B C …):
 * on a loaded machine the noise between separate runs is larger than the
 * difference measured, and interleaving spreads it evenly. Each round is 20
 * update()s of 100 keys and 50 awaited sets per build; the report is each
 * build's median rate and its median ratio to the first build's round.
 */
async function compare(): Promise<void> {
  const dirs = libDir.split(',');
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- the libs to measure are chosen at run time
  const dicts = dirs.map((dir) => new (require(path.resolve(dir)) as Lib).PersistentDict(group(), target));
  for (const d of dicts) await d.loadAll();
  const kinds = ['update() of 100 keys', 'one awaited set per transaction'] as const;
  const rates = dirs.map(() => ({ [kinds[0]]: [] as number[], [kinds[1]]: [] as number[] }));
  for (let round = 0; round < (Number(extra) || 12); round++) {
    for (const [i, d] of dicts.entries()) {
      let t = now();
      for (let b = 0; b < 20; b++) {
        await d.update(Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`u${k}`, { round, b, k }])));
      }
      rates[i]![kinds[0]].push((2000 / (now() - t)) * 1000);
      t = now();
      for (let k = 0; k < 50; k++) await d.set(`s${k}`, { round, k });
      rates[i]![kinds[1]].push((50 / (now() - t)) * 1000);
    }
  }
  for (const kind of kinds) {
    console.log(`${kind}:`);
    for (const [i, dir] of dirs.entries()) {
      const ratios = rates[i]![kind].map((r, round) => r / rates[0]![kind][round]!);
      console.log(
        `  ${dir}: median ${Math.round(pct(rates[i]![kind], 0.5))} writes/s, ${(pct(ratios, 0.5) * 100).toFixed(0)} % of ${dirs[0]}`,
      );
    }
  }
  for (const d of dicts) await d.shutdown();
}

const modes: Record<string, () => Promise<void>> = { throughput, queries, writer, latency, compare };
void (modes[mode] ?? (async () => console.error('mode: throughput | queries | latency | compare')))().then(() =>
  process.exit(0),
);
