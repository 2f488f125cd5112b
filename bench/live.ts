/**
 * Live queries (`npm run bench:live`, one run; issue 14): 10,000 writes at
 * 1,000/s into a watched table, each its own commit, from this process and
 * from another one, with and without a niceness-10 bulk import running
 * beside them (the live query at niceness -10). Reports the re-queries (the
 * issue's target: at most 35, PowerSync's figure at a 30 ms throttle) and
 * the commit-to-emit latency of every write: from its writer seeing COMMIT
 * to the first emission whose result includes it (p50 / p99), and the p99
 * with the import over the p99 without (target: at most 2×). The import is
 * 50-row transactions at niceness 10, 5 ms apart.
 *
 *   tsx bench/live.ts [writes, default 10000] [throttle ms, default 30]
 *   tsx bench/live.ts writer <target> <table> <writes>   (the other process)
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { lastValueFrom } from 'rxjs';
import { AccessBroker } from '../lib';

const PG_URL = process.env.SASYNC_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RATE = 1000;
const now = () => performance.timeOrigin + performance.now();
const pct = (xs: readonly number[], p: number) =>
  xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const ph = (b: AccessBroker, n: number) => (b.dialect === 'postgres' ? `$${n}` : '?');

/**
 * Writes `n` rows at RATE per second, each in its own commit, on schedule
 * (not one after another: a write may start before the last one ended);
 * calls `committed(id, time)` as each COMMIT returns.
 */
async function paced(b: AccessBroker, table: string, n: number, committed: (id: number, t: number) => void) {
  const start = now();
  const writes: Promise<void>[] = [];
  for (let id = 1; id <= n; id++) {
    const due = start + (id * 1000) / RATE;
    const wait = due - now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    writes.push(
      // retry: on sqlite a writer in another process may meet SQLITE_BUSY at once (see RESULTS.md).
      lastValueFrom(b.query(`INSERT INTO ${table} (id, v) VALUES (${ph(b, 1)}, 1)`, [id], { retry: 3 }), {
        defaultValue: [],
      }).then(() => committed(id, now())),
    );
  }
  await Promise.all(writes);
  return (n / (now() - start)) * 1000;
}

/** The other process: writes, printing `id time` after each commit, then `rate r`. */
async function writer(target: string, table: string, n: number): Promise<void> {
  const b = new AccessBroker(target);
  await b.waitUntilRunning();
  const lines: string[] = [];
  const rate = await paced(b, table, n, (id, t) => lines.push(`${id} ${t}`));
  process.stdout.write(`${lines.join('\n')}\nrate ${rate}\n`);
  await b.shutdown();
}

interface Outcome {
  readonly rate: number;
  readonly reQueries: number;
  readonly emissions: number;
  readonly p50: number;
  readonly p99: number;
}

async function scenario(target: string, n: number, throttle: number, remote: boolean, bulk: boolean): Promise<Outcome> {
  const b = new AccessBroker(target);
  const table = `bench_live_${process.pid}_${Math.random().toString(36).slice(2, 7)}`;
  const bulkTable = `${table}_bulk`;
  await b.table(table, [
    { name: 'id', type: 'integer', primary: true },
    { name: 'v', type: 'integer' },
  ]);
  await b.table(bulkTable, [
    { name: 'id', type: 'integer', primary: true, generated: true },
    { name: 'v', type: 'string', length: 100 },
  ]);
  let reQueries = 0;
  const counting = b.events$.subscribe((e) => e.type === 'started' && e.method === 'live' && reQueries++);
  const emitted: { t: number; last: number }[] = [];
  let firstSeen!: () => void;
  const first = new Promise<void>((resolve) => (firstSeen = resolve));
  const live = b
    .live<{ last: number | null }>(`SELECT max(id) AS last FROM ${table}`, [], { niceness: -10, throttle })
    .subscribe((r) => {
      emitted.push({ t: now(), last: Number(r.rows[0]?.last ?? 0) });
      firstSeen();
    });
  await first;
  reQueries = 0;
  let importing = bulk;
  const imported = (async () => {
    let i = 0;
    while (importing) {
      await lastValueFrom(
        b.transact(
          async (tx) => {
            for (let k = 0; k < 50; k++) {
              await tx.query(`INSERT INTO ${bulkTable} (v) VALUES (${ph(b, 1)})`, [`bulk row ${i++}`]);
            }
          },
          { niceness: 10, name: 'bulk' },
        ),
      );
      // 5 ms between batches: back to back, a sqlite writer in this process starves one in another
      // (sqlite's busy handler sleeps and retries; the lock is taken again first, every time).
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  const commits = new Map<number, number>();
  let rate: number;
  if (remote) {
    const c = spawn(process.execPath, ['--import', 'tsx', __filename, 'writer', target, table, String(n)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    rate = 0;
    for await (const line of readline.createInterface({ input: c.stdout })) {
      const [a, t] = line.split(' ');
      if (a === 'rate') rate = Number(t);
      else commits.set(Number(a), Number(t));
    }
  } else {
    rate = await paced(b, table, n, (id, t) => commits.set(id, t));
  }
  // Every write is in a result: wait for the emission that has the last one (a writer that failed: stop).
  if (commits.size < n) throw new Error(`only ${commits.size} of ${n} writes committed`);
  while ((emitted.at(-1)?.last ?? 0) < n) await new Promise((resolve) => setTimeout(resolve, 5));
  importing = false;
  await imported;
  live.unsubscribe();
  counting.unsubscribe();
  const latencies: number[] = [];
  let e = 0;
  for (let id = 1; id <= n; id++) {
    while (emitted[e]!.last < id) e++;
    latencies.push(emitted[e]!.t - commits.get(id)!);
  }
  await b.query(`DROP TABLE ${table}`);
  await b.query(`DROP TABLE ${bulkTable}`);
  await b.shutdown();
  return { rate, reQueries, emissions: emitted.length - 1, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99) };
}

async function main(): Promise<void> {
  const [mode] = process.argv.slice(2);
  if (mode === 'writer') {
    const [, target, table, n] = process.argv.slice(2);
    return writer(target!, table!, Number(n));
  }
  const n = Number(process.argv[2] ?? 10_000);
  const throttle = Number(process.argv[3] ?? 30);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sasync-bench-live-'));
  const targets: [string, string][] = [
    ['sqlite file', `sqlite:${path.join(dir, 'live.db')}`],
    ['postgres', PG_URL],
  ];
  console.log(`live queries: ${n} writes at ${RATE}/s, throttle ${throttle} ms, ${new Date().toISOString()}`);
  console.log(`${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, node ${process.version}\n`);
  console.log('| database | writer | bulk import | writes/s | re-queries | emissions | p50 ms | p99 ms |');
  console.log('|---|---|---|---:|---:|---:|---:|---:|');
  try {
    for (const [name, target] of targets) {
      const p99: Record<string, number> = {};
      for (const remote of [false, true]) {
        for (const bulk of [false, true]) {
          const o = await scenario(target, n, throttle, remote, bulk);
          p99[`${remote}${bulk}`] = o.p99;
          console.log(
            `| ${name} | ${remote ? 'another process' : 'this process'} | ${bulk ? 'niceness 10' : 'none'} | ` +
              `${Math.round(o.rate)} | ${o.reQueries} | ${o.emissions} | ${o.p50.toFixed(1)} | ${o.p99.toFixed(1)} |`,
          );
        }
      }
      for (const remote of [false, true]) {
        const ratio = p99[`${remote}true`]! / p99[`${remote}false`]!;
        console.log(
          `| ${name} | ${remote ? 'another process' : 'this process'} | p99 with / without: ${ratio.toFixed(2)}× | | | | | |`,
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
