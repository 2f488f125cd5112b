import { lastValueFrom } from 'rxjs';
import type { EntityManager } from 'typeorm';
import { TransactionError } from '../../lib';
import { classify, describeError, PlannedError, Scope, type ErrorKind } from './model-ledger';
import { CANCEL_MARGIN_MS, type Op } from './model-op';
import {
  describeSteps,
  describeTx,
  expectedEnding,
  type Ending,
  type PartPlan,
  type Step,
  type TxPlan,
} from './model-plans';
import type { World } from './model-world';

/** Where a step runs: the operation, the (nested) transaction and its manager. */
interface Place {
  readonly w: World;
  readonly op: Op;
  readonly top: Scope;
  readonly scope: Scope;
  readonly tx: EntityManager;
}

/**
 * Starts a transaction that follows `plan` (not awaited: the program goes
 * on while it runs) and checks how it ended once it has.
 */
export function startTx(w: World, plan: TxPlan): void {
  const op = w.newOp(describeTx(plan));
  const top = new Scope(op, 'top');
  op.controller = plan.signal ? new AbortController() : undefined;
  const refused = w.brokerClosed;
  // What a returned stream must show: every write of the transaction that no rollback took back.
  let own: string[] = [];
  const work = async (tx: EntityManager) => {
    try {
      await runBody({ w, op, top, scope: top, tx }, plan.steps, plan.ending);
      if (!plan.returnsStream) return undefined;
      own = w.ledger.visibleIn(top);
      return w.broker.stream<{ tag: string }>(w.selectSql(), [], { batchSize: 2 });
    } finally {
      op.bodyDone = true;
    }
  };
  const emitted: string[] = [];
  const source = w.broker.transact(work, {
    niceness: plan.niceness,
    timeout: plan.timeout,
    signal: op.controller?.signal,
    name: `op${op.id}`,
  });
  if (plan.timeout !== undefined) op.settleWithin(plan.timeout + CANCEL_MARGIN_MS);
  op.subscription = source.subscribe({
    next: (row: unknown) => void (row && emitted.push((row as { tag: string }).tag)),
    complete: () => op.settle({ kind: 'acked' }),
    error: (error: unknown) => op.settle({ kind: 'failed', error }),
  });
  void op.done.then(() => {
    checkTx(w, op, plan, refused);
    if (op.outcome.kind === 'acked' && plan.returnsStream) checkReturned(w, op, top, own, emitted);
  });
}

/** The rows a transaction's returned stream emitted: its own writes, and what others had committed. */
function checkReturned(w: World, op: Op, top: Scope, own: readonly string[], emitted: readonly string[]): void {
  const seen = new Set(emitted);
  if (seen.size !== emitted.length) w.fail(`op ${op.id}'s returned stream emitted a row twice: ${emitted}`);
  const missing = own.filter((tag) => !seen.has(tag));
  if (missing.length > 0) w.fail(`op ${op.id}'s returned stream does not show its own writes ${missing}`);
  const written = new Set(w.ledger.writtenIn(top));
  for (const tag of seen) if (!written.has(tag)) w.seen.set(tag, `op ${op.id}'s returned stream`);
}

async function runBody(at: Place, steps: readonly Step[], ending: Ending): Promise<void> {
  for (const step of steps) await runStep(at, step);
  if (ending === 'throw') throw new PlannedError(`op ${at.op.id} throws as planned`);
  if (ending === 'sqlError') {
    // NOT NULL violation: a driver error on both databases.
    await at.tx.query(at.w.insertSql(), [null]);
    at.w.fail(`op ${at.op.id}: inserting NULL into a NOT NULL column did not fail`);
  }
}

async function runStep(at: Place, step: Step): Promise<void> {
  const { w, tx } = at;
  switch (step.kind) {
    case 'insert':
      return void (await tx.query(w.insertSql(), [w.ledger.inTransaction(at.scope)]));
    case 'sleep':
      return sleep(step.ms);
    case 'read':
      return readInside(at, step.stop);
    case 'keep':
      return void w.kept.push({ manager: tx, op: at.op });
    case 'useKept':
      return useKeptInside(at);
    case 'part':
      return runPart(at, step.part);
  }
}

async function runPart(at: Place, part: PartPlan): Promise<void> {
  const scope = new Scope(at.op, part.kind, at.scope);
  const work = (inner: EntityManager) => runBody({ ...at, scope, tx: inner }, part.steps, part.ending);
  const options = part.kind === 'savepoint' ? { savepoint: true } : undefined;
  const label = `${part.kind === 'joined' ? 'join' : 'savepoint'}(${describeSteps(part.steps)}; ${part.ending})`;
  const expected = expectedEnding(part.steps, part.ending);
  try {
    await lastValueFrom(at.w.broker.transact(work, options), { defaultValue: undefined });
    at.op.parts.push({ label, expected, error: undefined });
  } catch (error) {
    // A savepoint that errored was rolled back to: its writes are gone.
    if (part.kind === 'savepoint') scope.failed = true;
    at.op.parts.push({ label, expected, error });
    if (!part.caught) throw error;
  }
}

/** A stream on the transaction's connection sees every write the transaction made so far. */
async function readInside(at: Place, stop: 'all' | 'break'): Promise<void> {
  const { w, op } = at;
  const own = new Set(w.ledger.visibleIn(at.top));
  const seen = new Set<string>();
  for await (const row of w.broker.stream<{ tag: string }>(w.selectSql(), [], { batchSize: 2 })) {
    seen.add(row.tag);
    if (stop === 'break') break;
  }
  if (stop === 'all') {
    const missing = [...own].filter((tag) => !seen.has(tag));
    if (missing.length > 0) w.fail(`op ${op.id}: a stream inside the transaction does not see its writes ${missing}`);
  }
  const written = new Set(w.ledger.writtenIn(at.top));
  for (const tag of seen) {
    // What it read of other transactions was committed; of its own, only what no rollback took back.
    if (!written.has(tag)) w.seen.set(tag, `a stream inside op ${op.id}`);
    else if (!own.has(tag))
      w.fail(`op ${op.id}: a stream inside the transaction sees ${tag}, rolled back to its savepoint`);
  }
}

/** A kept manager used inside another transaction must be refused, and write nothing. */
async function useKeptInside(at: Place): Promise<void> {
  const { w, op } = at;
  const kept = w.endedManagers().pop();
  if (!kept) return;
  const tag = w.ledger.refused();
  try {
    await kept.query(w.insertSql(), [tag]);
    w.fail(`op ${op.id}: a kept EntityManager wrote ${tag} inside another transaction`);
  } catch (error) {
    if (!(error instanceof TransactionError))
      w.fail(`op ${op.id}: a kept EntityManager was refused with ${describeError(error)}, not a TransactionError`);
  }
}

/** On postgres, an SQL error in a joined part aborts the whole transaction, caught or not. */
function abortsOnPostgres(steps: readonly Step[]): boolean {
  return steps.some(
    (s) =>
      s.kind === 'part' &&
      ((s.part.kind === 'joined' && s.part.caught && expectedEnding(s.part.steps, s.part.ending) === 'sqlError') ||
        abortsOnPostgres(s.part.steps)),
  );
}

const WANTED: Record<Ending, ErrorKind | undefined> = { ok: undefined, throw: 'planned', sqlError: 'sql' };

function checkTx(w: World, op: Op, plan: TxPlan, refused: boolean): void {
  const o = op.outcome;
  if (o.kind === 'unsubscribed' || o.kind === 'pending') return;
  const kind = o.kind === 'failed' ? classify(o.error, op.cancelReasons) : undefined;
  const error = o.kind === 'failed' ? describeError(o.error) : '';
  if (refused) {
    if (kind !== 'closed') w.fail(`op ${op.id} was submitted after shutdown() but ${o.kind} ${error}`);
    return;
  }
  if (kind === 'cancelled') {
    if (plan.timeout === undefined && op.cancelReasons.length === 0)
      w.fail(`op ${op.id} reports a cancellation nobody asked for: ${error}`);
    return;
  }
  const expected = expectedEnding(plan.steps, plan.ending);
  const aborts = w.dialect === 'postgres' && abortsOnPostgres(plan.steps);
  if (o.kind === 'acked') {
    if (expected !== 'ok') w.fail(`op ${op.id} was acknowledged, though its work ended with ${expected}`);
  } else if (kind !== WANTED[expected] && !(aborts && kind === 'sql')) {
    w.fail(`op ${op.id} should end with ${expected}, but failed with a ${kind} error: ${error}`);
  }
  if (aborts) return;
  for (const part of op.parts) {
    const partKind = part.error === undefined ? undefined : classify(part.error, op.cancelReasons);
    if (partKind !== WANTED[part.expected]) {
      const got = part.error === undefined ? 'succeeded' : `failed with ${describeError(part.error)}`;
      w.fail(`op ${op.id}: the nested ${part.label} ${got}`);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
