import fc from 'fast-check';
import {
  arrayCall,
  describeArray,
  type ArrayCall,
  dataSourceWrite,
  dictCall,
  describeDict,
  startRun,
  streamWrite,
  useKept,
  type DictCall,
  type RunKind,
} from './model-calls';
import { within } from './model-handles';
import {
  describeStream,
  describeTx,
  streamPlanArb,
  txPlanArb,
  type Hole,
  type StreamPlan,
  type TxPlan,
} from './model-plans';
import { startStream } from './model-stream';
import { startTx } from './model-tx';
import { SETTLE_MS, type World } from './model-world';

/**
 * The commands of a random program, for fast-check's model-based testing
 * (`fc.commands` + `fc.asyncModelRun`). Most start an operation without
 * waiting for it, so that several run at once; Sleep, Await and Settle let
 * time pass. The model of what must be in the database lives in the World
 * (its Ledger), because outcomes are only known when operations end.
 * Commands hold no state of their own: fast-check runs them again while
 * shrinking.
 */
type Model = Record<string, never>;
type Cmd = fc.AsyncCommand<Model, World>;

abstract class Command implements Cmd {
  check(): boolean {
    return true;
  }
  abstract run(m: Model, w: World): Promise<void>;
  abstract toString(): string;
}

class Tx extends Command {
  constructor(readonly plan: TxPlan) {
    super();
  }
  async run(_: Model, w: World) {
    startTx(w, this.plan);
  }
  toString() {
    return describeTx(this.plan);
  }
}

class Stream extends Command {
  constructor(readonly plan: StreamPlan) {
    super();
  }
  async run(_: Model, w: World) {
    startStream(w, this.plan);
  }
  toString() {
    return describeStream(this.plan);
  }
}

/** Cancels the k-th operation (of those that can still be cancelled that way). */
class Cancel extends Command {
  constructor(
    readonly k: number,
    readonly how: 'abort' | 'unsubscribe',
  ) {
    super();
  }
  async run(_: Model, w: World) {
    // The open hole: a stream cancelled while it opens may keep its connection.
    const streams = w.holes.has('pgStreamHang');
    const can = w.ops.filter(
      (op) => op.pending && (streams || !op.isStream) && (this.how === 'abort' ? op.controller : op.subscription),
    );
    const op = can[this.k % Math.max(1, can.length)];
    if (this.how === 'abort') op?.abort();
    else op?.unsubscribe();
  }
  toString() {
    return `${this.how} #${this.k}`;
  }
}

class Run extends Command {
  constructor(readonly kind: RunKind) {
    super();
  }
  async run(_: Model, w: World) {
    startRun(w, this.kind);
  }
  toString() {
    return `run(${this.kind})`;
  }
}

class Dict extends Command {
  constructor(readonly call: DictCall) {
    super();
  }
  run(_: Model, w: World) {
    return dictCall(w, this.call);
  }
  toString() {
    return describeDict(this.call);
  }
}

class ArrayOp extends Command {
  constructor(readonly call: ArrayCall) {
    super();
  }
  run(_: Model, w: World) {
    return arrayCall(w, this.call);
  }
  toString() {
    return describeArray(this.call);
  }
}

class Sleep extends Command {
  constructor(readonly ms: number) {
    super();
  }
  run() {
    return new Promise<void>((resolve) => setTimeout(resolve, this.ms));
  }
  toString() {
    return `sleep ${this.ms}`;
  }
}

/** Waits for the k-th operation still running to end. */
class Await extends Command {
  constructor(readonly k: number) {
    super();
  }
  async run(_: Model, w: World) {
    const pending = w.ops.filter((op) => op.pending);
    const op = pending[this.k % Math.max(1, pending.length)];
    if (op) await within(op.done, SETTLE_MS, `op ${op.id}`).catch((e: unknown) => w.fail(String(e)));
  }
  toString() {
    return `await #${this.k}`;
  }
}

/** Waits for everything, then compares the table with the model so far. */
class Settle extends Command {
  async run(_: Model, w: World) {
    await w.settle();
    const tags = await w.tableTags();
    if (tags) w.compareTable(tags, false);
    w.assertNoFailures();
  }
  toString() {
    return 'settle';
  }
}

class Shutdown extends Command {
  constructor(readonly which: 'broker' | 'stores' | 'both') {
    super();
  }
  async run(_: Model, w: World) {
    if (this.which !== 'stores' && !w.holes.has('pgStreamHang')) {
      // The open hole: a stream that is opening when shutdown() comes hangs.
      const streams = w.ops.filter((op) => op.isStream && op.pending).map((op) => op.done);
      await within(Promise.all(streams), SETTLE_MS, 'the streams before shutdown').catch((e: unknown) =>
        w.fail(String(e)),
      );
    }
    w.shutdown(this.which);
  }
  toString() {
    return `shutdown ${this.which}`;
  }
}

/** Misuses that must be refused (kept managers, dataSource.manager, writing streams): only for closed holes. */
class Misuse extends Command {
  constructor(
    readonly what: 'kept query' | 'kept builder' | 'dataSource' | 'stream write',
    readonly k: number,
  ) {
    super();
  }
  async run(_: Model, w: World) {
    if (this.what === 'kept query') useKept(w, this.k, 'query');
    else if (this.what === 'kept builder') useKept(w, this.k, 'builder');
    else if (this.what === 'dataSource') dataSourceWrite(w);
    else streamWrite(w);
  }
  toString() {
    return `${this.what}${this.what.startsWith('kept') ? ` #${this.k}` : ''}`;
  }
}

const keys = fc.constantFrom('a', 'b', 'c', 'd');
const values = fc.oneof(fc.integer({ min: 0, max: 99 }), fc.constantFrom('x', 'y'), fc.record({ n: fc.nat(9) }));

const dictCalls: fc.Arbitrary<DictCall> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('set' as const), key: keys, value: values }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keys }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('get' as const), key: keys }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'flush' as const }) },
);

const places = fc.tuple(fc.constantFrom(0, 1), fc.constantFrom('a', null), fc.constant(null));
const arrayCalls: fc.Arbitrary<ArrayCall> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at: places, value: values }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('delete' as const, 'get' as const), at: places }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
);

/** Time passing and the end of things: sleeps and awaits often, a shutdown seldom. */
const control: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0, 1, 10, 30).map((ms) => new Sleep(ms)) },
  { weight: 2, arbitrary: fc.nat(5).map((k) => new Await(k)) },
  { weight: 2, arbitrary: fc.constant(new Settle()) },
  { weight: 1, arbitrary: fc.constantFrom('broker', 'stores', 'both').map((which) => new Shutdown(which as 'both')) },
);

function misuses(holes: ReadonlySet<Hole>): fc.Arbitrary<Cmd>[] {
  const what: Misuse['what'][] = [];
  if (holes.has('keptManager')) what.push('kept query', 'kept builder', 'dataSource');
  if (holes.has('streamWrite')) what.push('stream write');
  if (what.length === 0) return [];
  return [fc.tuple(fc.constantFrom(...what), fc.nat(5)).map(([w, k]) => new Misuse(w, k))];
}

export interface ProgramOptions {
  readonly dialect: 'sqlite' | 'postgres';
  readonly holes: ReadonlySet<Hole>;
  readonly maxCommands: number;
  /** fast-check's replayPath of a reported failure, to replay it exactly. */
  readonly replayPath?: string;
}

/** Random programs: transactions most often, then streams, cancels, store calls, time, and a rare shutdown. */
export function programs(options: ProgramOptions): fc.Arbitrary<Iterable<Cmd>> {
  const tx = txPlanArb(options.holes, options.dialect).map((plan): Cmd => new Tx(plan));
  return fc.commands(
    [
      tx,
      tx,
      tx,
      streamPlanArb.map((plan) => new Stream(plan)),
      fc
        .tuple(fc.nat(5), fc.constantFrom('abort' as const, 'unsubscribe' as const))
        .map(([k, how]) => new Cancel(k, how)),
      fc.constantFrom<RunKind>('value', 'reject', 'throw', 'insert').map((kind) => new Run(kind)),
      dictCalls.map((c) => new Dict(c)),
      dictCalls.map((c) => new Dict(c)),
      arrayCalls.map((c) => new ArrayOp(c)),
      control,
      ...misuses(options.holes),
    ],
    { maxCommands: options.maxCommands, size: 'max', replayPath: options.replayPath },
  );
}

export type { Cmd, Model };
