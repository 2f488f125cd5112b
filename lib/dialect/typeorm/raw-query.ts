import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/**
 * The SQL and values of a QueryBuilder streamed as raw rows, as
 * `getQueryAndParameters()` gives them, unless the builder pages with
 * `skip()`/`take()` over joins: TypeORM pages those by entity in two queries
 * (`getMany()`), so its SQL has no LIMIT, and the stream would read every
 * row instead of the page asked for.
 *
 * TypeORM internals: the expression map's `skip`, `take` and
 * `joinAttributes` (the same fields entityReader reads).
 * @throws TypeError saying what to use instead.
 */
export function rawQuery<E extends ObjectLiteral>(qb: SelectQueryBuilder<E>): [string, unknown[]] {
  const map = qb.expressionMap;
  if ((map.skip !== undefined || map.take !== undefined) && map.joinAttributes.length > 0) {
    throw new TypeError(
      'stream(queryBuilder) cannot page raw rows with skip() or take() over joins: TypeORM pages those by entity, ' +
        'in two queries, and its SQL has no LIMIT, so every row would be read; page the rows with limit() and ' +
        'offset(), or filter with where() and stop early with rxjs take(n) or break',
    );
  }
  return qb.getQueryAndParameters();
}
