import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { entityReader, type LoadEvents } from '../dialect/typeorm/entity-hydration';
import { rawQuery } from '../dialect/typeorm/raw-query';
import { currentContext } from '../transaction/context';
import { SlotHolder } from '../transaction/slot';
import { entitySource } from './entity-source';
import type { StreamGate } from './open-stream';
import { cursorStream, queryStream } from './query-stream';
import type { RowStream } from './row-stream';
import { checkEntitiesOption, checkStreamOptions, type QueryBuilderStreamOptions } from './stream-options';

/**
 * The RowStream of a SelectQueryBuilder: its raw rows (TypeORM's column
 * aliases, `n_id`), or with `entities: true` the entities of its main alias,
 * hydrated a batch at a time (see entityReader for what applies, what is
 * refused and how joins that give an entity several rows are read).
 * Everything is checked at once, before any connection is taken.
 * @throws TypeError for a QueryBuilder that cannot be read as entities, or pages raw rows with skip/take over
 *   joins (see rawQuery), saying what to change; RangeError or
 *   TypeError for bad options.
 */
export function queryBuilderStream<E extends ObjectLiteral>(
  db: SharedDatabase,
  gate: StreamGate,
  qb: SelectQueryBuilder<E>,
  options: QueryBuilderStreamOptions = {},
): RowStream<E> | RowStream<ObjectLiteral> {
  checkStreamOptions(options);
  checkEntitiesOption(options.entities, true);
  if (!options.entities) {
    const [sql, values] = rawQuery(qb);
    return queryStream<ObjectLiteral>(db, gate, sql, values, options);
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
  return cursorStream<E, ObjectLiteral>(db, gate, reader.sql, reader.parameters, options, () => {
    // Inside a transaction, afterLoad subscribers get the work's own runner.
    const ctx = currentContext(db);
    const runner = ctx ? (ctx.manager.queryRunner ?? ctx.runner) : undefined;
    // Outside one: the slot the stream is about to take is found here, in the same context.
    const events = { runner, holdingSlot: ctx ? undefined : holdingSlot(db) };
    return (raw) => entitySource(raw, reader.open(events), reader.keyOf);
  });
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
