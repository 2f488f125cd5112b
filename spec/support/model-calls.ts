import { lastValueFrom } from 'rxjs';
import { SasyncError, TransactionError } from '../../lib';
import { classify, describeError, PlannedError } from './model-ledger';
import type { Op } from './model-op';
import type { World } from './model-world';

/**
 * The operations of a random program other than transactions and streams:
 * run(), store calls, and the misuses that must be refused (kept managers,
 * writes through stream()). Each is started without waiting, and checked
 * once it has ended.
 */

/** Settles `op` with how `promise` ends, then runs `check`. */
function track(op: Op, promise: Promise<unknown>, check: () => void): void {
  promise.then(
    () => op.settle({ kind: 'acked' }),
    (error: unknown) => op.settle({ kind: 'failed', error }),
  );
  void op.done.then(check);
}

/** A call that must not throw synchronously: what it throws becomes its rejection, and a failure. */
function call(w: World, op: Op, fn: () => Promise<unknown>): Promise<unknown> {
  try {
    return fn();
  } catch (error) {
    w.fail(`op ${op.id} threw synchronously instead of returning a failed Observable/Promise: ${describeError(error)}`);
    return Promise.reject(error);
  }
}

export type RunKind = 'value' | 'reject' | 'throw' | 'insert';

/** broker.run(fn): fn returns, rejects, throws synchronously, or inserts through the broker. */
export function startRun(w: World, kind: RunKind): void {
  const op = w.newOp(`run(${kind})`);
  const refused = w.brokerClosed;
  const tag = kind === 'insert' ? w.ledger.own(op) : undefined;
  const fn = (): unknown => {
    if (kind === 'throw') throw new PlannedError(`op ${op.id} throws synchronously`);
    if (kind === 'reject') return Promise.reject(new PlannedError(`op ${op.id} rejects`));
    if (kind === 'insert') return lastValueFrom(w.broker.query(w.insertSql(), [tag]));
    return 42;
  };
  const promise = call(w, op, () => lastValueFrom(w.broker.run(fn), { defaultValue: undefined }));
  track(op, promise, () => {
    const o = op.outcome;
    const kindOf = o.kind === 'failed' ? classify(o.error) : undefined;
    const wanted = refused ? 'closed' : kind === 'throw' || kind === 'reject' ? 'planned' : undefined;
    // The open hole: what fn submits while shutdown() waits for it is refused.
    const known = kind === 'insert' && kindOf === 'closed' && w.brokerClosed && !w.holes.has('runInShutdown');
    if (kindOf !== wanted && !known) w.fail(`${op} (wanted ${wanted ?? 'success'})`);
  });
}

export type DictCall =
  | { readonly kind: 'set'; readonly key: string; readonly value: unknown }
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'clear' }
  | { readonly kind: 'flush' }
  | { readonly kind: 'get'; readonly key: string };

export function describeDict(c: DictCall): string {
  switch (c.kind) {
    case 'set':
      return `dict.set(${c.key}, ${JSON.stringify(c.value)})`;
    case 'delete':
    case 'get':
      return `dict.${c.kind}(${c.key})`;
    default:
      return `dict.${c.kind}()`;
  }
}

const ABSENT = Symbol('absent');

/**
 * A PersistentDict call: writes change the model at once (memory is the
 * dict's truth) and must resolve; after shutdown they are refused with
 * BrokerClosedError and change nothing. A get must answer what the model holds.
 */
export async function dictCall(w: World, c: DictCall): Promise<void> {
  const op = w.newOp(describeDict(c));
  const refused = w.dictClosed;
  if (c.kind === 'get') {
    // Awaited: memory answers, and the model is what memory must hold now.
    const wanted = refused ? ABSENT : w.dictModel.has(c.key) ? w.dictModel.get(c.key) : ABSENT;
    const got = await call(w, op, () => w.dict.get<typeof ABSENT>(c.key, ABSENT)).then(
      (value) => (op.settle({ kind: 'acked' }), value),
      (error: unknown) => (op.settle({ kind: 'failed', error }), error),
    );
    if (refused ? classify(got) !== 'closed' : JSON.stringify(got) !== JSON.stringify(wanted)) {
      w.fail(`${op}: got ${describeValue(got)}, the model holds ${describeValue(wanted)}`);
    }
    return;
  }
  const promise = call(w, op, () => {
    switch (c.kind) {
      case 'set':
        return w.dict.set(c.key, c.value);
      case 'delete':
        return w.dict.delete(c.key);
      case 'clear':
        return w.dict.clear();
      case 'flush':
        return w.dict.flush();
    }
  });
  if (!refused) {
    if (c.kind === 'set') w.dictModel.set(c.key, c.value);
    if (c.kind === 'delete') w.dictModel.delete(c.key);
    if (c.kind === 'clear') w.dictModel.clear();
  }
  track(op, promise, () => {
    const o = op.outcome;
    const kind = o.kind === 'failed' ? classify(o.error) : undefined;
    if (kind !== (refused ? 'closed' : undefined)) w.fail(`${op}${refused ? ' (after dict.shutdown())' : ''}`);
  });
}

/** A place of the PersistentArray: a small domain, so that calls meet. */
export type Place = readonly [x: number, y: string | null, z: null];

export type ArrayCall =
  | { readonly kind: 'set'; readonly at: Place; readonly value: unknown }
  | { readonly kind: 'delete' | 'get'; readonly at: Place }
  | { readonly kind: 'clear' };

export function describeArray(c: ArrayCall): string {
  const at = c.kind === 'clear' ? '' : c.at.map((v) => JSON.stringify(v)).join(', ');
  return `array.${c.kind}(${at}${c.kind === 'set' ? `, ${JSON.stringify(c.value)}` : ''})`;
}

/** A PersistentArray call, with the same promises as a dict's (see {@link dictCall}). */
export async function arrayCall(w: World, c: ArrayCall): Promise<void> {
  const op = w.newOp(describeArray(c));
  const refused = w.dictClosed;
  const key = c.kind === 'clear' ? '' : JSON.stringify(c.at);
  if (c.kind === 'get') {
    const wanted = w.arrayModel.get(key);
    const got = await call(w, op, () => w.array.get(...c.at)).then(
      (value) => (op.settle({ kind: 'acked' }), value),
      (error: unknown) => (op.settle({ kind: 'failed', error }), error),
    );
    if (refused ? classify(got) !== 'closed' : JSON.stringify(got) !== JSON.stringify(wanted)) {
      w.fail(`${op}: got ${describeValue(got)}, the model holds ${describeValue(wanted)}`);
    }
    return;
  }
  const promise = call(w, op, () =>
    c.kind === 'set' ? w.array.set(...c.at, c.value) : c.kind === 'delete' ? w.array.delete(...c.at) : w.array.clear(),
  );
  if (!refused) {
    if (c.kind === 'set') w.arrayModel.set(key, c.value);
    else if (c.kind === 'delete') w.arrayModel.delete(key);
    else w.arrayModel.clear();
  }
  track(op, promise, () => {
    const o = op.outcome;
    const kind = o.kind === 'failed' ? classify(o.error) : undefined;
    if (kind !== (refused ? 'closed' : undefined)) w.fail(`${op}${refused ? ' (after the stores shut down)' : ''}`);
  });
}

function describeValue(v: unknown): string {
  if (v === ABSENT || v === undefined) return 'nothing';
  if (v instanceof Error) return describeError(v);
  return JSON.stringify(v);
}

/** A kept EntityManager used outside any transaction: refused with TransactionError, nothing written. */
export function useKept(w: World, index: number, api: 'query' | 'builder'): void {
  const ended = w.endedManagers();
  const kept = ended[index % Math.max(1, ended.length)];
  if (!kept) return;
  const op = w.newOp(`kept manager ${index % ended.length} ${api}`);
  const tag = w.ledger.refused();
  const write = () =>
    api === 'query'
      ? kept.query(w.insertSql(), [tag])
      : kept.createQueryBuilder().insert().into(w.broker.tableName).values({ tag }).execute();
  track(op, call(w, op, write), () => {
    const o = op.outcome;
    if (o.kind !== 'failed' || !(o.error instanceof TransactionError))
      w.fail(`${op}: a manager kept from an ended transaction must be refused with TransactionError`);
  });
}

/**
 * `broker.dataSource.manager` outside any transaction: runs on its own,
 * whatever transactions do meanwhile. It is not the broker's work: one that
 * races with shutdown() may fail (pg-pool's untyped connect timeout, 10 s
 * later, when the pool ends under it), and then nobody knows if it wrote.
 */
export function dataSourceWrite(w: World): void {
  if (w.brokerClosed) return;
  const op = w.newOp('dataSource.manager.query(insert)');
  const tag = w.ledger.own(op);
  const write = call(w, op, () => w.broker.dataSource.manager.query(w.insertSql(), [tag]));
  write.then(
    () => op.settle({ kind: 'acked' }),
    (error: unknown) => op.settle(w.brokerClosed ? { kind: 'unknown', error } : { kind: 'failed', error }),
  );
  void op.done.then(() => op.outcome.kind === 'failed' && w.fail(`${op}`));
}

/** stream() of a write outside any transaction: refused with a typed error, nothing written. */
export function streamWrite(w: World): void {
  const op = w.newOp('stream(INSERT … RETURNING)');
  op.isStream = true;
  const tag = w.ledger.refused();
  const sql = `${w.insertSql()} RETURNING tag`;
  track(
    op,
    call(w, op, () => lastValueFrom(w.broker.stream(sql, [tag]), { defaultValue: undefined })),
    () => {
      const o = op.outcome;
      if (o.kind !== 'failed' || !(o.error instanceof SasyncError)) w.fail(`${op}: stream() must refuse a write`);
    },
  );
}
