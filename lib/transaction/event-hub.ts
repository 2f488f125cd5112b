import { Subject, type Observable } from 'rxjs';
import { UNSUBSCRIBED } from '../cancel';
import { clock } from '../clock';
import type { CancelledError } from '../errors';
import { cancelledError } from './cancelled';
import type { TransactionEvent, TransactionEventBase, WorkKind } from './events';
import type { TransactOptions } from './options';

/** Where one run of queued work is, as its events tell it (a Submission's own fields). */
export interface RunRecord {
  readonly id: number;
  readonly method: string;
  readonly kind: WorkKind;
  readonly options: TransactOptions;
  /** `clock.now()` when it was submitted. */
  readonly queuedAt: number;
  /** `clock.now()` when it got its slot; undefined until then. */
  readonly startedAt: number | undefined;
  /** Attempts begun so far (0 until it starts). */
  readonly attempts: number;
  /** On a replica of a replicated target, its index in the target's replicas; undefined on the primary. */
  readonly replica: number | undefined;
  /** The id of the run on a replica this run on the primary replaces (see TransactionEventBase.fallbackOf). */
  readonly fallbackOf: number | undefined;
}

/**
 * The key, in a call's options, of how its run links to another (see
 * {@link RunLink}): set by the replica router, read by the Submission. Not
 * a public option.
 */
export const RUN_LINK: unique symbol = Symbol('sasync.runLink');

/** How a queued run links to the call around it (a routed read's runs: see TransactionEventBase.fallbackOf). */
export interface RunLink {
  /** The id of the run on a replica this run on the primary replaces. */
  readonly fallbackOf?: number;
  /** Told the run's id when it is queued. */
  readonly onRun?: (id: number) => void;
}

/** Options that may carry a {@link RunLink}. */
export interface LinkedOptions {
  readonly [RUN_LINK]?: RunLink;
}

let lastId = 0;

/** A new run's id, unique in the process. */
export function nextRunId(): number {
  return ++lastId;
}

/**
 * A broker's `events$` (shared by the broker's queueing on its replicas,
 * whose runs' events say so). Each method makes and sends an event only when
 * someone is subscribed: without a subscriber, a transaction allocates
 * nothing for its events. Subscribers are called synchronously, outside the
 * transaction's own context; RxJS catches what they throw and reports it
 * (`config.onUnhandledError`), so a throwing subscriber cannot fail or stop
 * the work, and later events still reach the others.
 */
export class EventHub {
  readonly #subject = new Subject<TransactionEvent>();
  /** The events, hot: a subscriber sees the events that happen while it is subscribed. */
  readonly events$: Observable<TransactionEvent> = this.#subject.asObservable();

  constructor(readonly broker: string) {}

  /** It was submitted. */
  queued(run: RunRecord): void {
    if (this.#subject.observed) this.#subject.next({ ...this.#base(run), type: 'queued' });
  }

  /** It has its slot. */
  started(run: RunRecord): void {
    if (!this.#subject.observed) return;
    const base = this.#base(run);
    this.#subject.next({ ...base, type: 'started', queueWait: base.time - run.queuedAt });
  }

  /** Its attempt `attempt` failed with `error` and it runs again. */
  retried(run: RunRecord, attempt: number, error: unknown): void {
    if (this.#subject.observed) this.#subject.next({ ...this.#base(run), type: 'retried', attempt, error });
  }

  /** It committed; its values go out next. */
  committed(run: RunRecord): void {
    if (!this.#subject.observed) return;
    const base = this.#base(run);
    this.#subject.next({ ...base, ...times(run, base.time), runTime: base.time - run.startedAt!, type: 'committed' });
  }

  /** It failed with `error` (rolled back, or never started). */
  rolledBack(run: RunRecord, error: unknown): void {
    if (!this.#subject.observed) return;
    const base = this.#base(run);
    this.#subject.next({ ...base, ...times(run, base.time), type: 'rolledBack', error });
  }

  /** Cancelled with `error`, or, without one, by its subscriber leaving. */
  cancelled(run: RunRecord, error: CancelledError | undefined): void {
    if (!this.#subject.observed) return;
    const base = this.#base(run);
    error ??= cancelledError(`${run.method} was cancelled: its subscriber unsubscribed`, UNSUBSCRIBED, {
      method: run.method,
      attempts: run.attempts,
    });
    this.#subject.next({ ...base, ...times(run, base.time), type: 'cancelled', error });
  }

  /** Ends `events$` (the broker has shut down). */
  complete(): void {
    this.#subject.complete();
  }

  #base(run: RunRecord): TransactionEventBase {
    const { options } = run;
    return {
      id: run.id,
      broker: this.broker,
      method: run.method,
      kind: run.kind,
      niceness: options.niceness ?? 0,
      doNext: options.doNext === true,
      doLast: options.doLast === true,
      time: clock.now(),
      server: run.replica === undefined ? 'primary' : 'replica',
      replica: run.replica,
      fallbackOf: run.fallbackOf,
    };
  }
}

function times(run: RunRecord, now: number) {
  const { queuedAt, startedAt } = run;
  return {
    queueWait: (startedAt ?? now) - queuedAt,
    runTime: startedAt === undefined ? undefined : now - startedAt,
    attempts: run.attempts,
  };
}
