import { BrokerClosedError, CancelledError, TransactionError } from '../../lib';

/**
 * What the model-based tests (spec/model/) expect of every write a random
 * program made: each insert carries a unique tag, and the ledger knows, from
 * how its transaction (and the savepoints around it) ended, whether the tag
 * must be in the table afterwards, must not be, or may be either (a cancel
 * that raced with COMMIT, which the caller was never told the outcome of).
 */

/** A failure of the model: the library did something it does not promise. */
export class ModelFailure extends Error {
  override name = 'ModelFailure';
}

/** An error the program's work throws on purpose. */
export class PlannedError extends Error {
  override name = 'PlannedError';
}

/** How an operation (a transaction, a stream, a store call) ended, as its caller saw it. */
export type Outcome =
  | { readonly kind: 'pending' }
  | { readonly kind: 'acked' }
  | { readonly kind: 'failed'; readonly error: unknown }
  /** Unsubscribed before it reported anything; `bodyDone` tells whether its work had returned by then. */
  | { readonly kind: 'unsubscribed'; readonly bodyDone: boolean }
  /** Failed in a way that does not say whether it wrote (a call of the user's own that raced with shutdown). */
  | { readonly kind: 'unknown'; readonly error: unknown };

/** One transaction, or a nested part of one (a join or a savepoint). */
export class Scope {
  /** For a savepoint part: whether its Observable errored (its writes are then rolled back). */
  failed = false;

  constructor(
    readonly op: { readonly outcome: Outcome },
    readonly kind: 'top' | 'joined' | 'savepoint',
    readonly parent?: Scope,
  ) {}
}

export type Fate = 'present' | 'absent' | 'either';

/** Where a tagged write came from. */
type Source =
  | { readonly kind: 'tx'; readonly scope: Scope }
  /** A write that must be refused (a kept manager, a writing stream): never in the table. */
  | { readonly kind: 'refused' }
  /** A write of its own (autocommit): there once acknowledged. */
  | { readonly kind: 'own'; readonly op: { readonly outcome: Outcome } };

export class Ledger {
  readonly #tags = new Map<string, Source>();
  #next = 0;

  /** A new tag for a write made in `scope` of a transaction. */
  inTransaction(scope: Scope): string {
    return this.#add({ kind: 'tx', scope });
  }

  /** A new tag for a write that must be refused. */
  refused(): string {
    return this.#add({ kind: 'refused' });
  }

  /** A new tag for a write acknowledged (or not) by its own operation. */
  own(op: { readonly outcome: Outcome }): string {
    return this.#add({ kind: 'own', op });
  }

  /** Tags written so far in `top` and the parts of it that have not failed: what a read inside it must see. */
  visibleIn(top: Scope): string[] {
    const seen: string[] = [];
    for (const [tag, source] of this.#tags) {
      if (source.kind !== 'tx' || topOf(source.scope) !== top) continue;
      if (!rolledBackPart(source.scope)) seen.push(tag);
    }
    return seen;
  }

  /** Every tag written in `top` or its parts, rolled back or not. */
  writtenIn(top: Scope): string[] {
    return [...this.#tags].filter(([, s]) => s.kind === 'tx' && topOf(s.scope) === top).map(([tag]) => tag);
  }

  fate(tag: string): Fate | undefined {
    const source = this.#tags.get(tag);
    if (!source) return undefined;
    if (source.kind === 'refused') return 'absent';
    if (source.kind === 'own') return outcomeFate(source.op.outcome);
    if (rolledBackPart(source.scope)) return 'absent';
    return outcomeFate(topOf(source.scope).op.outcome);
  }

  /** Every tag issued, with its fate. */
  *entries(): IterableIterator<[string, Fate]> {
    for (const tag of this.#tags.keys()) yield [tag, this.fate(tag)!];
  }

  #add(source: Source): string {
    const tag = `w${++this.#next}`;
    this.#tags.set(tag, source);
    return tag;
  }
}

function topOf(scope: Scope): Scope {
  let s = scope;
  while (s.parent) s = s.parent;
  return s;
}

/** Inside a savepoint that failed (so rolled back to): gone, whatever the outer transaction did. */
function rolledBackPart(scope: Scope): boolean {
  for (let s: Scope | undefined = scope; s; s = s.parent) if (s.kind === 'savepoint' && s.failed) return true;
  return false;
}

function outcomeFate(outcome: Outcome): Fate {
  switch (outcome.kind) {
    case 'acked':
      return 'present';
    case 'failed':
      // Failed, it rolled back, unless the error says its COMMIT was under way.
      return outcomeUnknown(outcome.error) ? 'either' : 'absent';
    case 'unsubscribed':
      // Work that had not returned when its subscriber left is rolled back; after
      // that, COMMIT may already be under way, and nobody is told which it was.
      return outcome.bodyDone ? 'either' : 'absent';
    case 'pending':
    case 'unknown':
      return 'either';
  }
}

/**
 * Whether an error says the outcome is unknown: cancelled while its COMMIT
 * was on the way to the server (CancelledError's or TimeoutError's
 * `outcomeUnknown`), or its connection lost then (TransactionError's
 * `outcomeUnknown`, as its ConnectionLostError's `duringCommit` says).
 */
export function outcomeUnknown(error: unknown): boolean {
  return (error instanceof TransactionError || error instanceof CancelledError) && error.outcomeUnknown;
}

/** What kind of error an operation ended with. */
export type ErrorKind = 'cancelled' | 'planned' | 'sql' | 'closed' | 'other';

/**
 * Classifies an error by its class and its cause chain (never its text):
 * `cancelReasons` are the reasons this program cancelled the operation with.
 */
export function classify(error: unknown, cancelReasons: readonly unknown[] = []): ErrorKind {
  if (error instanceof BrokerClosedError) return 'closed';
  const chain = causes(error);
  if (chain.some((e) => e instanceof BrokerClosedError)) return 'closed';
  if (chain.some((e) => cancelReasons.includes(e) || (e instanceof Error && e.name === 'TimeoutError')))
    return 'cancelled';
  if (chain.some((e) => e instanceof PlannedError)) return 'planned';
  if (error instanceof TransactionError && chain.some((e) => hasCode(e))) return 'sql';
  return 'other';
}

/** The error and its causes, outermost first. */
export function causes(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error; e !== undefined && !chain.includes(e); e = (e as { cause?: unknown } | null)?.cause)
    chain.push(e);
  return chain;
}

function hasCode(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.length > 0;
}

/** One line for an error in a failure message. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return `${error.name}${code ? ` [${String(code)}]` : ''}: ${error.message}`;
}
