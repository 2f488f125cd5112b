import {
  concatMap,
  defer,
  from,
  isObservable,
  last,
  map,
  mergeMap,
  Observable,
  of,
  type ObservableInput,
  type OperatorFunction,
} from 'rxjs';
import type { EntityManager } from 'typeorm';
import type { Dialect } from '../dialect';
import { TransactionError } from '../errors';
import { checkIdentifier } from '../schema/identifiers';
import { assertOpen } from '../transaction/context';
import { replayable, type ValueSource } from './replay-source';

export type { ValueSource } from './replay-source';

/** What `f` may return for one value: the column's value, a Promise or an Observable of it. */
export type Produced<R> = R | PromiseLike<R> | Observable<R>;

/** The insert `produceRows` makes. */
export interface ProduceSpec<V, R> {
  readonly f: (value: V) => Produced<R>;
  readonly values: ValueSource<V>;
  readonly table: string;
  readonly column: string;
  readonly constants: Readonly<Record<string, unknown>>;
  readonly concurrency: number;
}

/**
 * The transaction work of `produceRows`: checks the table and its columns in
 * the catalog (nothing is written if one is missing), calls `f` for up to
 * `concurrency` values at once, and inserts one row per value in input order,
 * emitting each row's primary key (null without a single-column key). Where
 * the dialect pipelines statements (postgres), up to {@link PIPELINE_DEPTH}
 * inserts go out without waiting for the answers before them; the first to
 * fail is the transaction's error, and nothing is committed. A
 * one-shot source is read once and replayed to a retry (see replayable()),
 * so a retry never commits a partial or empty result.
 * @throws InvalidIdentifierError or TypeError at once for bad names or values.
 */
export function produceRowsWork<V, R>(dialect: Dialect, spec: ProduceSpec<V, R>) {
  checkIdentifier('table', spec.table);
  for (const name of [spec.column, ...Object.keys(spec.constants)]) checkIdentifier('column', name);
  // Every attempt (a retry, another subscription) reads the same values.
  const values = replayable(spec.values);
  // Inserts sent ahead of the first one not yet answered: on postgres they go
  // out together (a round trip per window, not per row); elsewhere one at a time.
  const depth = dialect.capabilities.pipelinesStatements ? PIPELINE_DEPTH : 1;
  return (tx: EntityManager): Observable<unknown> => {
    const runner = tx.queryRunner!;
    // Value i starts only when it is within 2 × concurrency of the first value
    // not yet sent to the database: one slow early value must not let f run
    // (and results pile up) for the whole input behind it.
    const window = new InsertWindow(2 * spec.concurrency);
    const insertWith =
      (key: string | undefined) =>
      (produced: unknown): Promise<unknown> => {
        // insertRow may write on the driver's connection directly: refuse
        // it here once the transaction has ended (cancelled, failed).
        assertOpen(runner);
        const row = { ...spec.constants, [spec.column]: produced };
        const inserted = dialect.insertRow(runner, spec.table, row, key);
        window.sent();
        return inserted;
      };
    return defer(() => keyColumn(tx, spec)).pipe(
      concatMap((key) =>
        from(values()).pipe(
          mergeMap((value, index) => {
            const produce = () =>
              from(asInput(spec.f(value))).pipe(
                last(),
                map((produced) => [index, produced] as const),
              );
            const wait = window.until(index);
            return wait ? from(wait).pipe(concatMap(produce)) : produce();
          }, spec.concurrency),
          inInputOrder(),
          inOrderAhead(insertWith(key), depth),
        ),
      ),
    );
  };
}

/**
 * How many inserts `produceRows` sends ahead of the first one not yet
 * answered, where the dialect pipelines statements: enough that a round
 * trip of 1 ms carries dozens of rows, few enough that a failed insert
 * wastes little (those behind it fail at once in the aborted transaction).
 */
export const PIPELINE_DEPTH = 32;

/**
 * Calls `send` for each value in order as it arrives, with up to `depth`
 * calls not yet settled, and emits what they resolve with in the same
 * order. The first call to fail in input order is the error (those sent
 * after it are not waited for): with statements pipelined, a failing
 * insert is reported as itself, never as the "current transaction is
 * aborted" of one sent behind it, whichever settles first. Unsubscribing
 * stops sending; calls already sent settle unobserved (their errors are
 * handled here).
 */
function inOrderAhead<T, R>(send: (value: T) => Promise<R>, depth: number): OperatorFunction<T, R> {
  return (source) =>
    source.pipe(
      mergeMap((value, index) => from(settle(() => send(value))).pipe(map((s) => [index, s] as const)), depth),
      inInputOrder(),
      map((settled) => {
        if (settled.ok) return settled.value;
        throw settled.error;
      }),
    );
}

type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** A Promise that resolves with what `call` resolves or rejects with (or throws), never rejecting. */
function settle<R>(call: () => Promise<R>): Promise<Settled<R>> {
  try {
    return call().then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
  } catch (error) {
    return Promise.resolve({ ok: false, error });
  }
}

/** How far ahead of the inserts values may be produced. */
class InsertWindow {
  /** Values whose insert has been sent. */
  #sent = 0;
  readonly #waiting: { index: number; resolve: () => void }[] = [];

  constructor(readonly size: number) {}

  /** Undefined when value `index` may start now, else a Promise of when it may. */
  until(index: number): Promise<void> | undefined {
    if (index - this.#sent < this.size) return undefined;
    return new Promise((resolve) => this.#waiting.push({ index, resolve }));
  }

  /** One more value went to the database (its insert was sent). */
  sent(): void {
    this.#sent++;
    for (let i = this.#waiting.length - 1; i >= 0; i--) {
      const waiter = this.#waiting[i]!;
      if (waiter.index - this.#sent < this.size) {
        this.#waiting.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}

async function keyColumn(
  tx: EntityManager,
  spec: Pick<ProduceSpec<unknown, unknown>, 'table' | 'column' | 'constants'>,
): Promise<string | undefined> {
  const table = await tx.queryRunner!.getTable(spec.table);
  if (!table) {
    // A table that is not there is a failed transaction, not a bad name (InvalidIdentifierError).
    throw new TransactionError(
      `produceRows found no such table ${JSON.stringify(spec.table)}: create it first with table(); nothing was written`,
      { method: 'produceRows' },
    );
  }
  const columns = new Set(table.columns.map((c) => c.name));
  for (const name of [spec.column, ...Object.keys(spec.constants)]) {
    if (!columns.has(name)) {
      throw new TransactionError(
        `produceRows found no such column ${JSON.stringify(name)} in ${spec.table}: add it to the table; nothing was written`,
        { method: 'produceRows' },
      );
    }
  }
  return table.primaryColumns.length === 1 ? table.primaryColumns[0]!.name : undefined;
}

function asInput<R>(produced: Produced<R>): ObservableInput<R> {
  if (isObservable(produced)) return produced;
  if (typeof (produced as PromiseLike<R> | null)?.then === 'function') return produced as PromiseLike<R>;
  return of(produced as R);
}

/** Re-orders `[index, value]` pairs that arrive in any order into index order. */
function inInputOrder<T>(): OperatorFunction<readonly [number, T], T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const waiting = new Map<number, T>();
      let next = 0;
      return source.subscribe({
        next: ([index, value]) => {
          waiting.set(index, value);
          while (waiting.has(next)) {
            const ready = waiting.get(next) as T;
            waiting.delete(next++);
            subscriber.next(ready);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}
