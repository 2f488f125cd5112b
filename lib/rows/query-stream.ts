import type { SharedDatabase } from '../broker/registry';
import { refusedParameters } from '../broker/refused-parameters';
import type { CursorQuery } from '../dialect';
import { checkIdentifier } from '../schema/identifiers';
import { openStream, type StreamGate } from './open-stream';
import type { RowSource } from './row-source';
import { RowStream } from './row-stream';
import {
  checkEntitiesOption,
  checkStreamOptions,
  type QueryBuilderStreamOptions,
  type StreamOptions,
} from './stream-options';

/**
 * The RowStream of `sql` with `parameters`, for a broker whose lifecycle is
 * `gate`. Options are checked here, once, when the caller calls; a value a
 * driver would change fails the stream with InvalidParameterError when
 * subscribed, before it waits for a connection.
 * @throws TypeError for parameters that are not an array or `entities: true`; RangeError or TypeError for bad
 *   options, InvalidIdentifierError for a malformed `key`.
 */
export function queryStream<T>(
  db: SharedDatabase,
  gate: StreamGate,
  sql: string,
  parameters: readonly unknown[] | undefined,
  options: StreamOptions = {},
): RowStream<T> {
  if (parameters !== undefined && !Array.isArray(parameters)) {
    throw new TypeError('stream(sql, parameters, options): parameters must be an array (pass [] for none)');
  }
  checkStreamOptions(options);
  // Typed out of the raw SQL overloads, but JavaScript callers (and casts) get here.
  checkEntitiesOption((options as QueryBuilderStreamOptions).entities, false);
  return cursorStream<T, T>(db, gate, sql, parameters ?? [], options, () => (source) => source);
}

/**
 * A RowStream reading `sql` through a cursor, each subscription's source
 * made by the function `perSubscription` returns when it subscribes (in its
 * async context: inside a transaction or not). Options must be checked.
 * @throws InvalidIdentifierError for a malformed `key`.
 */
export function cursorStream<T, R>(
  db: SharedDatabase,
  gate: StreamGate,
  sql: string,
  parameters: readonly unknown[],
  options: StreamOptions,
  perSubscription: () => (raw: RowSource<R>) => RowSource<T>,
): RowStream<T> {
  if (options.key !== undefined) checkIdentifier('column', options.key);
  const cursor: CursorQuery = { sql, parameters: [...parameters], key: options.key };
  const refused = refusedParameters(db.dialect, cursor.parameters, sql);
  return new RowStream<T>((token) => {
    if (refused !== undefined) return Promise.reject(refused);
    const adapt = perSubscription();
    return openStream<R>(db, gate, cursor, options, token).then(adapt);
  }, options);
}
