import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { entityReader, type LoadEvents } from '../dialect/typeorm/entity-hydration';
import { rawQuery } from '../dialect/typeorm/raw-query';
import { currentContext } from '../transaction/context';
import { SlotHolder } from '../transaction/slot';
import { entitySource } from './entity-source';
import type { StreamGate } from './open-stream';
import { cursorStream } from './query-stream';
import type { RowSource } from './row-source';
import type { RowStream } from './row-stream';
import {
  checkEntitiesOption,
  checkStreamOptions,
  type QueryBuilderStreamOptions,
  type StreamOptions,
} from './stream-options';

/**
 * A QueryBuilder's stream as data, checked: the SQL and parameters built once
 * from it, the options of its cursor (`key` as the raw column), and what
 * makes a subscription's rows (raw rows as they are, or entities) of the raw
 * rows of its cursor. The cursor may read anywhere the QueryBuilder's tables
 * are (its database, or a replica of it): hydration uses the QueryBuilder's
 * own metadata, and its `Load` event the QueryBuilder's DataSource outside a
 * transaction (see {@link queryBuilderCursor}).
 */
export interface QueryBuilderCursor<T> {
  readonly sql: string;
  readonly parameters: readonly unknown[];
  /** The stream's options, `key` named as the raw column the cursor reads. */
  readonly options: StreamOptions;
  /**
   * Called when a subscription opens (in its async context) with the
   * database its cursor reads on, and whether that is a replica (then its
   * transaction, if any, is not the `Load` event's): what makes its rows
   * of the raw rows read.
   */
  perSubscription(db: SharedDatabase, replica: boolean): (raw: RowSource<ObjectLiteral>) => RowSource<T>;
}

/**
 * A SelectQueryBuilder read as a cursor: its raw rows (TypeORM's column
 * aliases, `n_id`), or with `entities: true` the entities of its main alias,
 * hydrated a batch at a time (see entityReader for what applies, what is
 * refused and how joins that give an entity several rows are read).
 * Everything is checked at once, before any connection is taken.
 *
 * `afterLoad` subscribers run inside the stream's transaction when it is
 * part of one on the QueryBuilder's own DataSource; otherwise on a runner of
 * that DataSource made for the batch: on a replicated target the primary's,
 * even when the rows were read on a replica, also inside read-only work
 * there. A replica's DataSource need not know the entity's metadata nor its
 * subscribers (a replica given as a URL knows neither), a subscriber's query
 * may write (a replica refuses that), and the primary has at least what the
 * replica had.
 * @throws TypeError for a QueryBuilder that cannot be read as entities, or pages raw rows with skip/take over
 *   joins (see rawQuery), saying what to change; RangeError or
 *   TypeError for bad options.
 */
export function queryBuilderCursor<E extends ObjectLiteral>(
  qb: SelectQueryBuilder<E>,
  options: QueryBuilderStreamOptions = {},
): QueryBuilderCursor<E> | QueryBuilderCursor<ObjectLiteral> {
  checkStreamOptions(options);
  checkEntitiesOption(options.entities, true);
  if (!options.entities) {
    const [sql, parameters] = rawQuery(qb);
    return { sql, parameters, options, perSubscription: () => (raw) => raw };
  }
  const reader = entityReader(qb);
  if (options.key !== undefined) {
    if (reader.keyOf) {
      throw new TypeError(
        `stream(queryBuilder, { entities: true, key: ${JSON.stringify(options.key)} }): a join here gives an entity several rows, ` +
          'so no column is unique per row in the order read: leave key out',
      );
    }
    // The rows are TypeORM's raw rows: `id` is read as `n_id`.
    options = { ...options, key: reader.rawKey(options.key) };
  }
  return {
    sql: reader.sql,
    parameters: reader.parameters,
    options,
    perSubscription: (db, replica) => {
      // Inside a transaction, afterLoad subscribers get the work's own runner; not a replica's: its
      // DataSource need not know the entity's subscribers nor its metadata (they run as outside one).
      const ctx = replica ? undefined : currentContext(db);
      const runner = ctx ? (ctx.manager.queryRunner ?? ctx.runner) : undefined;
      // Outside one: the slot the stream is about to take is found here, in the same context.
      const events = { runner, holdingSlot: ctx ? undefined : holdingSlot(db) };
      return (raw) => entitySource(raw, reader.open(events), reader.keyOf);
    },
  };
}

/**
 * The RowStream of a SelectQueryBuilder on one database (see
 * {@link queryBuilderCursor} for what it reads and checks).
 * @throws TypeError or RangeError at once, as queryBuilderCursor.
 */
export function queryBuilderStream<E extends ObjectLiteral>(
  db: SharedDatabase,
  gate: StreamGate,
  qb: SelectQueryBuilder<E>,
  options: QueryBuilderStreamOptions = {},
): RowStream<E> | RowStream<ObjectLiteral> {
  const built = queryBuilderCursor(qb, options) as QueryBuilderCursor<E>;
  return cursorStream<E, ObjectLiteral>(db, gate, built.sql, built.parameters, built.options, () =>
    built.perSubscription(db, false),
  );
}

/**
 * Where a stream outside a transaction holds a slot of the transactions' queue
 * (one connection: sqlite in memory, a file not in WAL mode) and TypeORM
 * calls from outside wait for that queue: what runs a batch's `Load` event as
 * holding that slot, so that its subscribers' queries run on the connection
 * the stream holds, between its reads, instead of waiting for the stream to
 * end. Undefined elsewhere: the stream reads on a connection apart, and
 * subscribers' queries wait for the queue (or the pool) like any other call.
 */
function holdingSlot(db: SharedDatabase): LoadEvents['holdingSlot'] {
  const queue = db.gatesOutsideCalls ? db.streams.sharedQueue() : undefined;
  if (!queue) return undefined;
  return (broadcast) => {
    const holder = new SlotHolder(queue);
    return holder.run(broadcast).finally(() => holder.end());
  };
}
