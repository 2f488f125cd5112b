import type { ObjectLiteral, QueryRunner, SelectQueryBuilder } from 'typeorm';
import { DriverUtils } from 'typeorm/driver/DriverUtils';
import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata';
import type { Alias } from 'typeorm/query-builder/Alias';
import { RelationCountMetadataToAttributeTransformer } from 'typeorm/query-builder/relation-count/RelationCountMetadataToAttributeTransformer';
import { RelationIdMetadataToAttributeTransformer } from 'typeorm/query-builder/relation-id/RelationIdMetadataToAttributeTransformer';
import { RawSqlResultsToEntityTransformer } from 'typeorm/query-builder/transformer/RawSqlResultsToEntityTransformer';
import { Broadcaster } from 'typeorm/subscriber/Broadcaster';

/**
 * A QueryBuilder read as entities: the SQL to stream and how to turn its raw
 * rows into entities, a batch at a time.
 */
export interface EntityReader<E> {
  readonly sql: string;
  readonly parameters: unknown[];
  /**
   * When a join may give one entity several raw rows: the main entity's key
   * of a raw row (the rows of one entity are adjacent, by the order checked
   * or added). Undefined when every raw row is one entity.
   */
  readonly keyOf: ((row: ObjectLiteral) => string) | undefined;
  /**
   * The column of the raw rows that the stream option `key` names: a column
   * of the main alias given as its property (`id`, `n.id`), its database
   * name or its raw alias (`n_id`), or the alias of an `addSelect`.
   * @throws TypeError naming what to pass instead, for a column the rows do not have.
   */
  rawKey(key: string): string;
  /** Hydration for one subscription (see {@link LoadEvents} for where its `Load` events run). */
  open(events: LoadEvents): EntityHydrator<E>;
}

/**
 * Where the `afterLoad` subscribers of one subscription run, so that their
 * queries never wait for what the stream itself holds.
 */
export interface LoadEvents {
  /** The transaction's runner, when the stream is part of one: subscribers query inside it. */
  readonly runner?: QueryRunner;
  /**
   * Outside a transaction, where the stream holds the one connection (sqlite
   * in memory, or a file not in WAL mode): runs a batch's `Load` event as
   * work that holds the stream's slot, so that its queries run on that
   * connection between the stream's reads instead of waiting for the slot.
   * Undefined where the stream reads on a connection apart.
   */
  readonly holdingSlot?: <T>(broadcast: () => Promise<T>) => Promise<T>;
}

/** Turns raw rows into entities for one subscription; it holds nothing between batches. */
export interface EntityHydrator<E> {
  /** The entities of `rows` (whole entities: every row of each one is in `rows`), after their `afterLoad` handlers. */
  hydrate(rows: ObjectLiteral[]): Promise<E[]>;
}

/**
 * The entity reading of `qb` (a clone: the caller's QueryBuilder is not
 * changed), checked at once: a QueryBuilder on an entity, without the
 * features that need more queries than the stream's own, and, when a join
 * may give an entity several rows, ordered so that those rows are adjacent.
 * With such a join and no order at all, it orders by the main alias's
 * primary key.
 *
 * What applies, as in `getMany()`: the query selects the primary columns the
 * entity needs (`queryEntity`), TypeORM's RawSqlResultsToEntityTransformer
 * builds the entities (joined relations, embedded columns, inheritance), and
 * the `Load` event runs `@AfterLoad` listeners and subscribers' `afterLoad`
 * (awaited before the batch is delivered; skipped with
 * `callListeners(false)`). Subscribers get the transaction's runner inside
 * one, the builder's own if it has one, else a runner of the DataSource
 * made for that batch and released right after it (see {@link LoadEvents}).
 * What is refused: relation ids and counts (`@RelationId`,
 * `loadRelationIdAndMap`, `@RelationCount`…), `skip`/`take` with joins
 * (TypeORM pages those by entity in two queries), the `query` relation load
 * strategy, and optimistic locks: each needs queries of its own, on a
 * connection the stream is busy reading.
 *
 * TypeORM internals: the transformer, the relation id / count metadata
 * transformers (run to find the relation ids an entity declares), the
 * Broadcaster and DriverUtils.buildAlias (the raw column names of the main
 * alias's columns), all by their module paths, and the expression map's fields
 * (`mainAlias`, `joinAttributes`, `allOrderBys`, `queryEntity`, `skip`,
 * `take`, `lockMode`, `callListeners`, `relationLoadStrategy`, `selects`,
 * read as SelectQueryBuilder.buildEscapedEntityColumnSelects reads it) and the
 * builder's `relationMetadatas`. They have not changed across 0.3; breaks if
 * TypeORM moves them: imports fail at load, or entities differ from
 * `getMany()`'s (spec/rows/entities.spec.ts compares the two).
 * @throws TypeError saying what to change.
 */
export function entityReader<E extends ObjectLiteral>(qb: SelectQueryBuilder<E>): EntityReader<E> {
  const query = qb.clone() as unknown as Builder;
  // Protected in TypeORM's types: the runner the builder was made with (a manager's), if any.
  const ownRunner = (qb as unknown as { queryRunner?: QueryRunner }).queryRunner;
  const map = query.expressionMap;
  const main = map.mainAlias;
  if (!main?.hasMetadata) {
    throw new TypeError(
      'stream(queryBuilder, { entities: true }) needs a QueryBuilder on an entity: ' +
        "repository.createQueryBuilder('n') or .from(Note, 'n'), not a table name; " +
        'leave entities out to stream raw rows',
    );
  }
  refuseExtraQueries(query, main);
  const keyOf = map.joinAttributes.some(multiplies) ? rowKey(query, main) : undefined;
  if (keyOf) orderByKey(query, main);
  map.queryEntity = true;
  const [sql, parameters] = query.getQueryAndParameters();
  const driver = query.connection.driver;
  return {
    sql,
    parameters,
    keyOf,
    rawKey: (key) => rawKey(query, main, key),
    open({ runner, holdingSlot }) {
      // As getMany(): the builder's own runner (lazy relations load through it).
      const transformer = new RawSqlResultsToEntityTransformer(map, driver, [], [], ownRunner);
      const broadcast = async (entities: E[]) => {
        const given = runner ?? ownRunner;
        if (given) return new Broadcaster(given).broadcast('Load', main.metadata, entities);
        // Outside a transaction, one of the DataSource's runners for this batch
        // only: held across the consumer's turn, its connection (postgres) or
        // the queue's slot it waited for (sqlite) would be out of reach of the
        // consumer's own transactions. Made here, inside holdingSlot where the
        // stream holds the one connection: it must not wait for that slot.
        const made = query.connection.createQueryRunner();
        try {
          await new Broadcaster(made).broadcast('Load', main.metadata, entities);
        } finally {
          await made.release();
        }
      };
      return {
        async hydrate(rows) {
          const entities = transformer.transform(rows, main) as E[];
          if (map.callListeners && entities.length > 0) {
            await (holdingSlot && !runner ? holdingSlot(() => broadcast(entities)) : broadcast(entities));
          }
          return entities;
        },
      };
    },
  };
}

/** A QueryBuilder whatever its entity type (SelectQueryBuilder<E> is not assignable to the ObjectLiteral one). */
type Builder = SelectQueryBuilder<ObjectLiteral>;

/** Whether a join may give one main entity several rows: to-many relations and joins by a condition. */
function multiplies(join: Builder['expressionMap']['joinAttributes'][number]): boolean {
  const relation = join.relation;
  return relation ? relation.isOneToMany || relation.isManyToMany : true;
}

function refuseExtraQueries(query: Builder, main: Alias): void {
  const map = query.expressionMap;
  const refuse = (what: string, instead: string) => {
    throw new TypeError(
      `stream(queryBuilder, { entities: true }) cannot ${what}: ${instead}, or leave entities out to stream raw rows`,
    );
  };
  // These add what the entity metadata declares to the (cloned) expression map.
  new RelationIdMetadataToAttributeTransformer(map).transform();
  new RelationCountMetadataToAttributeTransformer(map).transform();
  if (map.relationIdAttributes.length > 0 || map.relationCountAttributes.length > 0) {
    refuse(
      `load relation ids or counts (@RelationId, @RelationCount, loadRelationIdAndMap, loadRelationCountAndMap on ${main.metadata.name} or a joined entity): they take a query per batch on the connection the stream is reading`,
      'join the relation with leftJoinAndSelect instead',
    );
  }
  if ((map.skip || map.take) && map.joinAttributes.length > 0) {
    refuse(
      'page with skip() or take() over joins (TypeORM pages those by entity, in two queries)',
      'filter with where() and stop early with rxjs take(n) or break',
    );
  }
  const relationQueries = (query as unknown as { relationMetadatas?: unknown[] }).relationMetadatas;
  if (map.relationLoadStrategy === 'query' && (relationQueries?.length ?? 0) > 0) {
    refuse('load relations with the "query" strategy', "use relationLoadStrategy: 'join'");
  }
  if (map.lockMode === 'optimistic') refuse('check an optimistic lock', 'use getOne() for that');
}

/** The raw column names of the main alias's primary key (all columns for a view), as the transformer groups rows. */
function keyColumns(query: Builder, main: Alias): string[] {
  const metadata = main.metadata;
  const columns = metadata.tableType === 'view' ? metadata.columns : metadata.primaryColumns;
  return columns.map((c) => DriverUtils.buildAlias(query.connection.driver, undefined, main.name, c.databaseName));
}

/** The main entity's key of a raw row, made as RawSqlResultsToEntityTransformer.group makes it. */
function rowKey(query: Builder, main: Alias): (row: ObjectLiteral) => string {
  const keys = keyColumns(query, main);
  return (row) =>
    keys
      .map((key) => {
        const value: unknown = row[key];
        if (Buffer.isBuffer(value)) return value.toString('hex');
        if (value !== null && typeof value === 'object') return JSON.stringify(value);
        return String(value);
      })
      .join('_');
}

/**
 * Makes the rows of one main entity adjacent: without any order, orders by
 * the main alias's primary key; with one, requires it to start with columns
 * of the main alias that include the whole primary key (rows of one entity
 * are then equal on that prefix, and rows of two entities differ on it).
 */
function orderByKey(query: Builder, main: Alias): void {
  const metadata = main.metadata;
  const primary = metadata.primaryColumns;
  const orders = Object.keys(query.expressionMap.allOrderBys);
  if (orders.length === 0) {
    for (const column of primary) query.addOrderBy(`${main.name}.${column.propertyPath}`, 'ASC');
    return;
  }
  const driver = query.connection.driver;
  const columnOf = (order: string) =>
    metadata.columns.find(
      (c) =>
        order === `${main.name}.${c.propertyPath}` ||
        order === DriverUtils.buildAlias(driver, undefined, main.name, c.databaseName),
    );
  const missing = new Set(primary);
  for (const order of orders) {
    const column = columnOf(order);
    if (!column) break;
    missing.delete(column);
    if (missing.size === 0) return;
  }
  const key = primary.map((c) => `${main.name}.${c.propertyPath}`).join(', ');
  throw new TypeError(
    `stream(queryBuilder, { entities: true }) joins a relation that gives one ${metadata.name} several rows, ` +
      `and reads them as one entity only if they come together: order by ${key} first ` +
      `(.orderBy('${primary[0] ? `${main.name}.${primary[0].propertyPath}` : main.name}'); other columns of ${main.name} may come before it), ` +
      `not by ${orders.join(', ')}; or leave the order out and the stream orders by ${key}`,
  );
}

/**
 * The raw column `key` names (see EntityReader.rawKey): as it is when a
 * selected column of the main alias or an addSelect has that raw name; the
 * raw alias of a main alias's column named by property or database name.
 */
function rawKey(query: Builder, main: Alias, key: string): string {
  const map = query.expressionMap;
  const driver = query.connection.driver;
  const metadata = main.metadata;
  const rawOf = (c: ColumnMetadata) => DriverUtils.buildAlias(driver, undefined, main.name, c.databaseName);
  const selected = selectedColumns(query, main);
  if (selected.some((c) => rawOf(c) === key) || map.selects.some((s) => s.aliasName === key)) return key;
  const named = metadata.columns.find(
    (c) => key === c.propertyPath || key === `${main.name}.${c.propertyPath}` || key === c.databaseName,
  );
  const option = `stream(queryBuilder, { entities: true, key: ${JSON.stringify(key)} })`;
  const example = metadata.primaryColumns[0] ?? selected[0];
  const instead = example
    ? `pass a column of ${main.name} (${metadata.name}) by property or raw name, as '${example.propertyPath}' or '${rawOf(example)}'`
    : `pass a column of ${main.name} (${metadata.name})`;
  if (!named) {
    throw new TypeError(
      `${option}: key must name a column of the raw rows read, and ${metadata.name} has no column ${JSON.stringify(key)}: ` +
        `${instead}, unique and increasing in the order read; or leave key out`,
    );
  }
  if (!selected.includes(named)) {
    throw new TypeError(
      `${option}: ${main.name}.${named.propertyPath} is not selected by this QueryBuilder, so the rows have no ${rawOf(named)}: ` +
        `select it, or ${instead}; or leave key out`,
    );
  }
  return rawOf(named);
}

/** The columns of the main alias that the query selects, as TypeORM's buildEscapedEntityColumnSelects picks them. */
function selectedColumns(query: Builder, main: Alias): ColumnMetadata[] {
  const selects = query.expressionMap.selects;
  const metadata = main.metadata;
  const whole = selects.some((s) => s.selection === main.name);
  const picked = metadata.columns.filter(
    (c) => (whole && c.isSelect) || selects.some((s) => s.selection === `${main.name}.${c.propertyPath}`),
  );
  // A partial select still reads the primary columns (queryEntity); nothing selected reads nothing.
  return picked.length === 0 ? [] : [...new Set([...picked, ...metadata.primaryColumns])];
}
