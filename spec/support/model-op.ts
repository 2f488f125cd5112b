import type { Subscription } from 'rxjs';
import { describeError, type Outcome } from './model-ledger';

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
    this.controller.abort(reason);
  }

  toString(): string {
    const o = this.outcome;
    const how =
      o.kind === 'failed'
        ? `failed: ${describeError(o.error)}`
        : o.kind === 'unsubscribed'
          ? `unsubscribed (work ${o.bodyDone ? 'had returned' : 'had not returned'})`
          : o.kind;
    return `op ${this.id} ${this.label}: ${how}`;
  }
}
