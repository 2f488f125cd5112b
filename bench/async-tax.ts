/**
 * The AsyncLocalStorage tax (issue 12, item 2): does a program pay for
 * sasync on promises that have nothing to do with it?
 *
 *   npx tsx bench/async-tax.ts [--lib=dist/lib] [--reps=15] [--target=sqlite::memory:|postgres://…] [--busy]
 *
 * Three child processes stay up side by side, each set up once: `bare` runs
 * an unrelated `await` loop without sasync loaded; `loaded` loads sasync,
 * runs a transaction with a nested one on the target, waits for it to
 * complete, then runs the same loop; `dict` times `await dict.get(key)` of
 * a cached key and an awaited `Map` get in the same process. The parent asks
 * them for one timed repetition at a time, in turn, so that the two sides
 * of each ratio are measured moments apart (the machine may be busy: ratios
 * of adjacent repetitions hold better than absolute rates). Reported: the
 * median of the ratios. A `required` child loads sasync and runs nothing
 * (no hook ever set). A `hooked-once` child, without sasync, used an
 * AsyncLocalStorage once and disabled it: V8 seems not to restore some
 * promise fast paths once a promise hook was set, which no library can
 * avoid on Node 20 (in one process, before/after: about 0.65×; across
 * processes the figure is noisier). Rates are per CPU second of the child (see
 * cpuSeconds). Targets: loop ≥ 0.95×, dict.get ≥ 0.5×. With
 * `--busy`, one more child runs the loop while a transaction is running
 * (sasync's storage is on then), for reference.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { lastValueFrom } from 'rxjs';
import { LIB_ENV, sasyncLib, sasyncLibLabel } from './sasync-lib';
import { median } from './stats';

type Mode = 'bare' | 'required' | 'loaded' | 'busy' | 'dict' | 'hooked-once';

/** One repetition's rates (operations per second): the loop's, or dict.get's and Map get's. */
interface Rep {
  readonly rate: number;
  readonly mapRate?: number;
}

const LOOP = 1_000_000;
const GETS = 500_000;

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

/** Sets a child up; returns its repetition and its teardown. */
async function setUp(mode: Mode, target: string): Promise<{ rep: () => Promise<Rep>; close: () => Promise<void> }> {
  const loop = async (): Promise<Rep> => ({ rate: await awaitLoop(LOOP) });
  if (mode === 'bare') return { rep: loop, close: () => Promise.resolve() };
  if (mode === 'hooked-once') {
    // No sasync: an AsyncLocalStorage used once, then disabled (no promise hook left on). V8
    // seems to keep some promise fast paths off for good once a promise hook was ever set
    // (its promise-hook protector is not restored): what may remain after sasync's work.
    const storage = new AsyncLocalStorage<number>();
    await storage.run(1, () => Promise.resolve());
    storage.disable();
    return { rep: loop, close: () => Promise.resolve() };
  }
  const { AccessBroker, PersistentDict } = sasyncLib();
  // sasync (TypeORM, RxJS) loaded, nothing run: what loading costs, without any hook ever set.
  if (mode === 'required') return { rep: loop, close: () => Promise.resolve() };
  if (mode === 'dict') {
    const dict = new PersistentDict<string, number>(`tax_${process.pid}`, target);
    for (let i = 0; i < 1000; i++) void dict.set(`k${i}`, i);
    await dict.flush();
    const map = new Map<string, number>();
    for (let i = 0; i < 1000; i++) map.set(`k${i}`, i);
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`);
    let sum = 0;
    const dictGet = async (i: number) => void (sum += await dict.get(keys[i % 1000]!));
    const mapGet = async (i: number) => void (sum += (await map.get(keys[i % 1000]!))!);
    return {
      rep: async () => {
        sum = 0;
        const rate = await timed(GETS, dictGet);
        const mapRate = await timed(GETS, mapGet);
        // Every value read, both ways: 2 × GETS/1000 × (0 + … + 999).
        if (sum !== GETS * 999) throw new Error(`dict and Map read ${sum}, not ${GETS * 999}`);
        return { rate, mapRate };
      },
      close: async () => {
        await dict.clear();
        await dict.shutdown();
      },
    };
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
  if (mode === 'loaded') return { rep: loop, close: () => broker.shutdown() };
  // busy: a transaction stays open while the loop runs.
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const running = lastValueFrom(
    broker.transact(() => held),
    { defaultValue: undefined },
  );
  return {
    rep: loop,
    close: async () => {
      release();
      await running;
      await broker.shutdown();
    },
  };
}

/** The child's side: set up, then answer 'rep' and 'close' requests. */
async function serve(mode: Mode, target: string): Promise<void> {
  const subject = await setUp(mode, target);
  await subject.rep(); // warm-up
  process.on('message', (request: string) => {
    const work = request === 'rep' ? subject.rep() : subject.close().then(() => process.disconnect());
    work.then(
      (value) => process.connected && process.send!({ ok: true, value }),
      (err: unknown) => process.send!({ ok: false, error: String(err) }),
    );
  });
  process.send!({ ok: true });
}

interface Child {
  ask(request: 'rep' | 'close'): Promise<unknown>;
  readonly proc: ChildProcess;
}

async function spawn(mode: Mode, target: string): Promise<Child> {
  const proc = fork(__filename, [`--child=${mode}`, `--target=${target}`], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = async (): Promise<unknown> => {
    const [reply] = (await once(proc, 'message')) as [{ ok: boolean; value?: unknown; error?: string }];
    if (!reply.ok) throw new Error(`${mode}: ${reply.error}`);
    return reply.value;
  };
  await next(); // set up
  return {
    proc,
    ask: (request) => {
      const answer = request === 'rep' ? next() : once(proc, 'exit').then(() => undefined);
      proc.send(request);
      return answer;
    },
  };
}

const fmt = (n: number) => (n / 1e6).toFixed(2) + 'M/CPU-s';
const x = (n: number) => n.toFixed(3) + '×';

async function parent(): Promise<void> {
  const lib = arg('lib', '');
  if (lib) process.env[LIB_ENV] = lib; // the children inherit it
  const reps = Number(arg('reps', '15'));
  const target = arg('target', 'sqlite::memory:');
  const modes: Mode[] = [
    'bare',
    'required',
    'loaded',
    'hooked-once',
    'dict',
    ...(process.argv.includes('--busy') ? ['busy' as const] : []),
  ];
  console.log(`async tax: node ${process.version}, ${sasyncLibLabel()}, target ${target.replace(/:[^:@/]*@/, ':…@')}`);
  const children = new Map<Mode, Child>();
  for (const mode of modes) children.set(mode, await spawn(mode, target));
  const rates = new Map<Mode, Rep[]>(modes.map((m) => [m, []]));
  try {
    for (let r = 0; r < reps; r++) {
      // Alternating order, so that neither side always runs first.
      const order = r % 2 ? [...modes].reverse() : modes;
      for (const mode of order) rates.get(mode)!.push((await children.get(mode)!.ask('rep')) as Rep);
    }
  } finally {
    for (const child of children.values()) await child.ask('close');
  }
  const loop = (mode: Mode) => rates.get(mode)!.map((rep) => rep.rate);
  const bare = loop('bare');
  const ratioTo = (mode: Mode) => median(loop(mode).map((rate, i) => rate / bare[i]!));
  const dict = rates.get('dict')!;
  console.log(
    `await loop, median of ${reps} reps: bare ${fmt(median(bare))}, sasync loaded after a transaction ` +
      `${fmt(median(loop('loaded')))}`,
  );
  console.log(`  median ratio loaded / bare (adjacent reps): ${x(ratioTo('loaded'))} (target ≥ 0.95×)`);
  console.log(`  sasync loaded, nothing run: ${fmt(median(loop('required')))}, ratio ${x(ratioTo('required'))}`);
  console.log(
    `  without sasync, after an AsyncLocalStorage was used once and disabled: ${fmt(median(loop('hooked-once')))}, ` +
      `ratio ${x(ratioTo('hooked-once'))} (what any promise hook set once leaves)`,
  );
  if (modes.includes('busy'))
    console.log(
      `  while a transaction runs: ${fmt(median(loop('busy')))}, ratio ${x(ratioTo('busy'))} (for reference)`,
    );
  console.log(
    `await dict.get of a cached key ${fmt(median(dict.map((d) => d.rate)))}, awaited Map get ` +
      `${fmt(median(dict.map((d) => d.mapRate!)))}`,
  );
  console.log(`  median ratio dict.get / Map get: ${x(median(dict.map((d) => d.rate / d.mapRate!)))} (target ≥ 0.5×)`);
}

const childMode = arg('child', '') as Mode | '';
if (childMode) {
  serve(childMode, arg('target', 'sqlite::memory:')).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
    process.disconnect();
  });
} else {
  parent().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
