/**
 * The AsyncLocalStorage tax (issue 12, item 2): does a program pay for
 * sasync on promises that have nothing to do with it?
 *
 *   npx tsx bench/async-tax.ts [--lib=dist/lib] [--rounds=7] [--target=sqlite::memory:|postgres://…]
 *
 * Each round starts two child processes, in alternating order: `bare` runs
 * an unrelated `await` loop without sasync loaded; `loaded` loads sasync,
 * runs a transaction (and a nested one) on the target, waits for it to
 * complete, then runs the same loop. A third child, `dict`, times `await
 * dict.get(key)` of a cached key against an awaited `Map` get in the same
 * process, interleaved. Reported: the median over rounds of each round's
 * ratio (the machine may be busy; ratios from interleaved runs hold better
 * than absolute rates). Targets: loop ≥ 0.95×, dict.get ≥ 0.5×.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { LIB_ENV, sasyncLib, sasyncLibLabel } from './sasync-lib';
import { median } from './stats';

type Mode = 'bare' | 'loaded' | 'busy' | 'dict';

interface ChildResult {
  readonly mode: Mode;
  /** Operations per second of each timed repetition. */
  readonly rates: readonly number[];
  /** For `dict`: the awaited Map get's rates, interleaved with `rates`. */
  readonly mapRates?: readonly number[];
}

const LOOP = 1_000_000;
const GETS = 1_000_000;
const REPS = 5;

function arg(name: string, fallback: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  return found ? found.slice(name.length + 3) : fallback;
}

/** The unrelated work: an async function awaited in a loop (one promise and one await per step). */
async function step(i: number): Promise<number> {
  return i + 1;
}

async function awaitLoop(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n;) i = await step(i);
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function timed(n: number, body: (i: number) => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await body(i);
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

async function loopRates(): Promise<number[]> {
  await awaitLoop(LOOP / 4); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < REPS; r++) rates.push(await awaitLoop(LOOP));
  return rates;
}

async function child(mode: Mode, target: string): Promise<ChildResult> {
  if (mode === 'bare') return { mode, rates: await loopRates() };
  const { AccessBroker, PersistentDict } = sasyncLib();
  if (mode === 'dict') {
    const dict = new PersistentDict<string, number>(`tax_${process.pid}`, target);
    for (let i = 0; i < 1000; i++) void dict.set(`k${i}`, i);
    await dict.flush();
    const map = new Map<string, number>();
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, i);
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    const dictGet = (i: number) => dict.get(keys[i % 1000]!);
    const mapGet = async (i: number) => map.get(keys[i % 1000]!);
    await timed(GETS / 4, dictGet);
    await timed(GETS / 4, mapGet);
    const rates: number[] = [];
    const mapRates: number[] = [];
    for (let r = 0; r < REPS; r++) {
      rates.push(await timed(GETS, dictGet));
      mapRates.push(await timed(GETS, mapGet));
    }
    await dict.clear();
    await dict.shutdown();
    return { mode, rates, mapRates };
  }
  const broker = new AccessBroker(target);
  await broker.waitUntilRunning();
  // A transaction with a nested one: every context sasync has has been used.
  const seen = await lastValueFrom(
    broker.transact(async (m) => {
      const inner = await lastValueFrom(
        broker.transact(async (m2) => (await m2.query('SELECT 1 AS one')) as unknown[]),
      );
      return [...inner, ...((await m.query('SELECT 2 AS two')) as unknown[])];
    }),
  );
  if (seen.length !== 2) throw new Error(`the transaction returned ${JSON.stringify(seen)}`);
  if (mode === 'busy') {
    // The loop while a transaction is running (for reference: the hooks are on then).
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const running = lastValueFrom(
      broker.transact(() => held),
      { defaultValue: undefined },
    );
    const rates = await loopRates();
    release();
    await running;
    await broker.shutdown();
    return { mode, rates };
  }
  const rates = await loopRates();
  await broker.shutdown();
  return { mode, rates };
}

async function spawn(mode: Mode, target: string): Promise<ChildResult> {
  const proc = fork(__filename, [`--child=${mode}`, `--target=${target}`], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let result: ChildResult | undefined;
  proc.on('message', (m: ChildResult) => (result = m));
  const [code] = (await once(proc, 'exit')) as [number | null];
  if (code !== 0 || !result) throw new Error(`the ${mode} child failed (exit ${code})`);
  return result;
}

const fmt = (n: number) => (n / 1e6).toFixed(2) + 'M/s';
const x = (n: number) => n.toFixed(3) + '×';

async function parent(): Promise<void> {
  const lib = arg('lib', '');
  if (lib) process.env[LIB_ENV] = lib;
  const rounds = Number(arg('rounds', '7'));
  const target = arg('target', 'sqlite::memory:');
  const withBusy = process.argv.includes('--busy');
  console.log(`async tax: node ${process.version}, ${sasyncLibLabel()}, target ${target.replace(/:[^:@/]*@/, ':…@')}`);
  const loopRatios: number[] = [];
  const busyRatios: number[] = [];
  const dictRatios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 ? ['loaded', 'bare'] : ['bare', 'loaded'];
    const got = new Map<Mode, ChildResult>();
    for (const mode of order) got.set(mode, await spawn(mode, target));
    const bare = median(got.get('bare')!.rates);
    const loaded = median(got.get('loaded')!.rates);
    loopRatios.push(loaded / bare);
    let line = `round ${r + 1}: loop bare ${fmt(bare)}, loaded after a transaction ${fmt(loaded)} (${x(loaded / bare)})`;
    if (withBusy) {
      const busy = median((await spawn('busy', target)).rates);
      busyRatios.push(busy / bare);
      line += `, during one ${fmt(busy)} (${x(busy / bare)})`;
    }
    const dict = await spawn('dict', target);
    const ratios = dict.rates.map((d, i) => d / dict.mapRates![i]!);
    dictRatios.push(median(ratios));
    line += `; dict.get ${fmt(median(dict.rates))} vs Map ${fmt(median(dict.mapRates!))} (${x(median(ratios))})`;
    console.log(line);
  }
  console.log(
    `median ratio, unrelated await loop, sasync loaded and a transaction done / without: ${x(median(loopRatios))} (target ≥ 0.95×)`,
  );
  if (withBusy) console.log(`median ratio, the same loop while a transaction runs / without: ${x(median(busyRatios))}`);
  console.log(`median ratio, await dict.get (cached) / awaited Map get: ${x(median(dictRatios))} (target ≥ 0.5×)`);
}

const childMode = arg('child', '') as Mode | '';
if (childMode) {
  child(childMode, arg('target', 'sqlite::memory:')).then(
    (result) => process.send!(result),
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
} else {
  parent().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
