import { lastValueFrom, type Observable } from 'rxjs';
import type { ObjectLiteral, SelectQueryBuilder } from 'typeorm';
import type { LiveBroker } from './live-broker';
import type { Lifecycle } from '../broker/lifecycle';
import type { SharedDatabase } from '../broker/registry';
import { LiveQueryError, TransactionError } from '../errors';
import { rawQuery } from '../dialect/typeorm/raw-query';
import type { PriorityOptions } from '../scheduler/priority';
import { outsideScopes } from '../transaction/async-scope';
import { liveQuery, type LiveHost } from './live-query';
import { checkLiveOptions } from './options';
import { watchTables } from './table-changes';
import type { LiveOptions, LiveResult } from './types';

/** What `broker.live()` is given: SQL and its parameters, or a QueryBuilder. */
export type LiveQuery = string | SelectQueryBuilder<ObjectLiteral>;

/**
 * `broker.live()`: checks everything at the call (a query, its parameters,
 * the options), then returns the cold Observable of liveQuery. Its queries
 * are queued on the broker like any others (at the options' priority,
 * named `live` in events$), and run outside any transaction around the
 * subscriber or the callback that started them: a live query is nobody's
 * part of a transaction.
 * @throws TypeError or RangeError at once for bad arguments.
 */
export function brokerLive<T>(
  broker: LiveBroker,
  db: SharedDatabase,
  lifecycle: Lifecycle,
  query: LiveQuery,
  second: readonly unknown[] | LiveOptions<T> | undefined,
  third: LiveOptions<T> | undefined,
): Observable<LiveResult<T>> {
  let sql: string;
  let parameters: readonly unknown[];
  let options: LiveOptions<T> | undefined;
  if (typeof query === 'string') {
    if (query.trim() === '') throw new TypeError('live() needs a query: a SELECT statement, or a QueryBuilder');
    if (second !== undefined && !Array.isArray(second)) {
      throw new TypeError('live(sql, parameters, options): parameters must be an array');
    }
    sql = query;
    parameters = second ?? [];
    options = third;
  } else if (isQueryBuilder(query)) {
    if (Array.isArray(second) || third !== undefined) {
      throw new TypeError('a QueryBuilder brings its own parameters: call live(queryBuilder, options)');
    }
    [sql, parameters] = rawQuery(query);
    options = second as LiveOptions<T> | undefined;
  } else {
    throw new TypeError('live() takes SQL (a SELECT statement) or a TypeORM SelectQueryBuilder');
  }
  checkLiveOptions(options as LiveOptions<never> | undefined);
  const host: LiveHost = {
    query: <R>(s: string, p: readonly unknown[], priority: PriorityOptions) =>
      outsideScopes(
        () =>
          lastValueFrom(broker.query(s, p, { ...priority, name: 'live', route: 'primary' }), {
            defaultValue: [],
          }) as Promise<R[]>,
      ),
    readTables: (s, p, priority) =>
      outsideScopes(() =>
        lastValueFrom(
          broker.transact((tx) => db.dialect.readTables((q, v) => tx.query(q, [...v]), s, p), {
            ...priority,
            name: 'live tables',
          }),
        ).catch((error: unknown) => {
          // The refusal itself, not the transaction that carried it.
          throw error instanceof TransactionError && error.cause instanceof LiveQueryError ? error.cause : error;
        }),
      ),
    watch: (tables, listener) => outsideScopes(() => watchTables(broker, tables, listener)),
    track: (complete) => lifecycle.trackLive(complete),
    get closing() {
      return lifecycle.closing;
    },
  };
  return liveQuery(host, sql, parameters, options ?? {});
}

function isQueryBuilder(q: unknown): q is SelectQueryBuilder<ObjectLiteral> {
  return (
    typeof q === 'object' &&
    q !== null &&
    typeof (q as { getQueryAndParameters?: unknown }).getQueryAndParameters === 'function'
  );
}
