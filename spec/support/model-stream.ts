import { lastValueFrom, map, take, tap, toArray } from 'rxjs';
import type { RowStream } from '../../lib';
import { classify, describeError, PlannedError } from './model-ledger';
import type { Op } from './model-op';
import { describeStream, type StreamPlan } from './model-plans';
import type { World } from './model-world';

type Row = { id: number; tag: string };

/**
 * Starts reading the program's table with a stream outside any transaction,
 * stopping the way `plan` says (not awaited), and checks how it ended: what
 * it read was committed, a full read saw every write acknowledged before it
 * started, and it ends as promised (an abort is always an error, never a
 * short result).
 */
export function startStream(w: World, plan: StreamPlan): void {
  const op = w.newOp(describeStream(plan));
  op.isStream = true;
  op.controller = plan.stop === 'abort' ? new AbortController() : undefined;
  const acknowledged = [...w.ledger.entries()].filter(([, fate]) => fate === 'present').map(([tag]) => tag);
  const stream = w.broker.stream<Row>(w.selectSql(), [], {
    batchSize: plan.batchSize,
    key: plan.key ? 'id' : undefined,
    signal: op.controller?.signal,
  });
  const seen: string[] = [];
  let triggered = false;
  let late = 0;
  const onRow = (row: Row) => {
    if (op.controller?.signal.aborted) late++;
    if (plan.stop === 'error' && seen.length === plan.n) {
      triggered = true;
      throw new PlannedError(`the consumer of op ${op.id} throws at row ${plan.n}`);
    }
    seen.push(row.tag);
    if (plan.stop === 'abort' && seen.length === plan.n) abort();
  };
  const abort = () => {
    triggered = true;
    op.abort();
  };
  if (plan.stop === 'abort' && plan.n === 0) abort();
  read(op, stream, plan, onRow).then(
    () => op.settle({ kind: 'acked' }),
    (error: unknown) => op.settle({ kind: 'failed', error }),
  );
  void op.done.then(() => checkStream(w, op, plan, { seen, triggered, acknowledged, late }));
}

/** Reads through the API the plan names; resolves when the reading ended normally. */
async function read(op: Op, stream: RowStream<Row>, plan: StreamPlan, onRow: (row: Row) => void): Promise<void> {
  if (plan.stop === 'hold') {
    await new Promise<void>((resolve, reject) => {
      op.subscription = stream.subscribe({ next: onRow, error: reject, complete: resolve });
    });
    return;
  }
  if (plan.stop === 'take') return void (await lastValueFrom(stream.pipe(take(plan.n), tap(onRow), toArray())));
  switch (plan.api) {
    case 'rx':
      return void (await lastValueFrom(stream.pipe(map(onRow), toArray())));
    case 'consume':
      return stream.consume(onRow, { concurrency: 2 });
    case 'batches':
      for await (const batch of stream.batches()) batch.forEach(onRow);
      return;
    case 'iterate': {
      let rows = 0;
      for await (const row of stream) {
        if (plan.stop === 'break' && rows++ >= plan.n) break;
        onRow(row);
      }
      return;
    }
  }
}

function checkStream(
  w: World,
  op: Op,
  plan: StreamPlan,
  read: { seen: string[]; triggered: boolean; acknowledged: string[]; late: number },
): void {
  const o = op.outcome;
  const reader = `op ${op.id} (${op.label})`;
  for (const tag of read.seen) w.seen.set(tag, reader);
  if (new Set(read.seen).size !== read.seen.length) w.fail(`${reader} read a row twice: ${read.seen}`);
  const consumeLate = plan.api === 'consume' && !w.holes.has('consumeAfterAbort');
  if (read.late > 0 && !consumeLate) w.fail(`${reader} delivered ${read.late} rows after its signal aborted`);
  if (o.kind === 'pending' || o.kind === 'unsubscribed') return;
  if (o.kind === 'failed') {
    const kind = classify(o.error, op.cancelReasons);
    // Streams still open at shutdown fail with BrokerClosedError, as do streams started after it.
    if (kind === 'closed' && w.brokerClosed) return;
    // Aborted by its own consumer, or by a Cancel command of the program.
    if (kind === 'cancelled' && op.cancelReasons.length > 0) return;
    if (kind !== 'planned' || !read.triggered) w.fail(`${reader} failed with ${describeError(o.error)}`);
    return;
  }
  if (read.triggered) w.fail(`${reader} completed, though its consumer ${plan.stop === 'error' ? 'threw' : 'aborted'}`);
  if (plan.stop === 'take' && read.seen.length > plan.n) w.fail(`${reader} delivered ${read.seen.length} rows`);
  if (plan.stop === 'all') {
    const seen = new Set(read.seen);
    const missing = read.acknowledged.filter((tag) => !seen.has(tag));
    if (missing.length > 0) w.fail(`${reader} did not see writes acknowledged before it started: ${missing}`);
  }
}
