import { checkPriority, type PriorityOptions } from '../scheduler/priority';

/** Options of `broker.stream()`. */
export interface StreamOptions extends PriorityOptions {
  /** Rows read from the database at a time (default 500): at most one batch is held in memory. */
  readonly batchSize?: number;
  /** Aborting it closes the cursor and gives the connection back. */
  readonly signal?: AbortSignal;
  /**
   * sqlite only: a column of the result whose values are unique and
   * increasing in the result's order (an integer primary key, say). The
   * stream then reads chunks by that key; without it, sqlite first copies the
   * result into a temporary table (on disk, not in memory) and reads that.
   */
  readonly key?: string;
  /** Called with the size of each batch read from the database (progress, diagnostics). */
  readonly onBatch?: (rows: number) => void;
}

/**
 * Options of `broker.stream(queryBuilder, options)`: those of every stream,
 * and whether to read entities.
 */
export interface QueryBuilderStreamOptions extends StreamOptions {
  /**
   * `true`: the stream yields entities of the QueryBuilder's main alias,
   * hydrated by TypeORM as `getMany()` does (joined relations included,
   * `afterLoad` run), a batch at a time; `batchSize` counts the raw rows read
   * for each batch, `onBatch` the entities they completed (the rows of an
   * entity that may go on in the next batch are read with it). Default
   * `false`: raw rows, with TypeORM's column aliases (`n_id`, `n_title`).
   * With `true`, `key` may name the main alias's column by its property
   * (`id`, `n.id`): the stream reads it as its raw column (`n_id`); a column
   * the raw rows do not have is refused at once.
   */
  readonly entities?: boolean;
}

export const DEFAULT_BATCH_SIZE = 500;
export const MAX_BATCH_SIZE = 100_000;

/** Checks stream options at call time. @throws RangeError */
export function checkStreamOptions(options: StreamOptions | undefined): void {
  if (options === undefined) return;
  checkPriority(options);
  const { batchSize } = options;
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH_SIZE)) {
    throw new RangeError(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, not ${String(batchSize)}`);
  }
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError('signal must be an AbortSignal');
  }
}

/**
 * Checks `entities` at call time: a boolean, and `true` only for a
 * QueryBuilder (raw SQL has no entity to hydrate). @throws TypeError
 */
export function checkEntitiesOption(entities: unknown, forQueryBuilder: boolean): void {
  if (entities === undefined) return;
  if (typeof entities !== 'boolean') {
    throw new TypeError(
      `entities must be true or false, not ${typeof entities === 'string' ? JSON.stringify(entities) : String(entities)}`,
    );
  }
  if (entities && !forQueryBuilder) {
    throw new TypeError(
      "entities: true needs a TypeORM SelectQueryBuilder: call stream(repository.createQueryBuilder('n'), { entities: true }); " +
        'raw SQL streams raw rows',
    );
  }
}

/** Checks `consume()`'s concurrency. @throws RangeError */
export function checkConcurrency(concurrency: number): void {
  if (!(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new RangeError(`concurrency must be an integer of at least 1, not ${String(concurrency)}`);
  }
}
