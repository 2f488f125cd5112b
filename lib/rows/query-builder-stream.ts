import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { SharedDatabase } from '../broker/registry';
import { entityReader } from '../dialect/typeorm/entity-hydration';
import { currentContext } from '../transaction/context';
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
 * @throws TypeError for a QueryBuilder that cannot be read as entities, saying what to change; RangeError or
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
    const [sql, values] = qb.getQueryAndParameters();
    return queryStream<ObjectLiteral>(db, gate, sql, values, options);
  }
  const reader = entityReader(qb);
  if (reader.keyOf && options.key !== undefined) {
    throw new TypeError(
      `stream(queryBuilder, { entities: true, key: ${JSON.stringify(options.key)} }): a join here gives an entity several rows, ` +
        'so no column is unique per row in the order read: leave key out',
    );
  }
  return cursorStream<E, ObjectLiteral>(db, gate, reader.sql, reader.parameters, options, () => {
    // Inside a transaction, afterLoad subscribers get the work's own runner.
    const ctx = currentContext(db);
    const runner = ctx ? (ctx.manager.queryRunner ?? ctx.runner) : undefined;
    return (raw) => entitySource(raw, reader.open(runner), reader.keyOf);
  });
}
