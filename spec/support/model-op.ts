import type { Subscription } from 'rxjs';
import { describeError, type Outcome } from './model-ledger';

/**
 * How late after its timeout or abort an operation may end: issue 9 asks for
 * 250 ms on a frozen server; this is generous, for a loaded test machine.
 */
export const CANCEL_MARGIN_MS = 2000;

/** The result of a nested part, kept to be checked once the whole transaction ended. */
export interface PartResult {
  readonly label: string;
  readonly expected: 'ok' | 'throw' | 'sqlError';
  readonly error: unknown;
}

/**
 * One operation a random program started (a transaction, a stream, a store
 * call): its outcome as the caller saw it, and what can cancel it.
 */
export class Op {
  outcome: Outcome = { kind: 'pending' };
  /** The transaction's work has returned or thrown. */
  bodyDone = false;
  /** The reasons this program cancelled it with (abort reasons). */
  readonly cancelReasons: unknown[] = [];
  readonly parts: PartResult[] = [];
  /** A stream outside any transaction. */
  isStream = false;
  /** When its timeout or an abort must have ended it by (ms since the epoch), with a generous margin. */
  mustSettleBy: number | undefined;
  settledAt: number | undefined;
  subscription: Subscription | undefined;
  controller: AbortController | undefined;
  /** Resolves once the outcome is known (settled, or unsubscribed). */
  readonly done: Promise<void>;
  #resolve!: () => void;

  constructor(
    readonly id: number,
    readonly label: string,
  ) {
    this.done = new Promise<void>((resolve) => (this.#resolve = resolve));
  }

  get pending(): boolean {
    return this.outcome.kind === 'pending';
  }

  settle(outcome: Outcome): void {
    if (!this.pending) return;
    this.outcome = outcome;
    this.settledAt = Date.now();
    this.#resolve();
  }

  /** Unsubscribes, if it still runs: from then on nothing will be reported. */
  unsubscribe(): void {
    if (!this.pending || !this.subscription) return;
    this.subscription.unsubscribe();
    this.settle({ kind: 'unsubscribed', bodyDone: this.bodyDone });
  }

  /** Aborts its signal, if it has one and still runs. */
  abort(): void {
    if (!this.pending || !this.controller || this.controller.signal.aborted) return;
    const reason = new Error(`the model program aborted op ${this.id}`);
    this.cancelReasons.push(reason);
    this.settleWithin(CANCEL_MARGIN_MS);
    this.controller.abort(reason);
  }

  /** It must end within `ms` from now (a timeout or an abort bounds the caller's wait). */
  settleWithin(ms: number): void {
    this.mustSettleBy = Math.min(this.mustSettleBy ?? Infinity, Date.now() + ms);
  }

  toString(): string {
    const o = this.outcome;
    const how =
      o.kind === 'failed' || o.kind === 'unknown'
        ? `${o.kind}: ${describeError(o.error)}`
        : o.kind === 'unsubscribed'
          ? `unsubscribed (work ${o.bodyDone ? 'had returned' : 'had not returned'})`
          : o.kind;
    return `op ${this.id} ${this.label}: ${how}`;
  }
}
