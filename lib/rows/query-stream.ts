import type { SharedDatabase } from '../broker/registry';
import { refusedParameters } from '../broker/refused-parameters';
import { checkIdentifier } from '../schema/identifiers';
import { openStream, type StreamGate } from './open-stream';
import { RowStream } from './row-stream';
import { checkStreamOptions, type StreamOptions } from './stream-options';

/**
 * The RowStream of `sql` with `parameters`, for a broker whose lifecycle is
 * `gate`. Options are checked here, once, when the caller calls; a value a
 * driver would change fails the stream with InvalidParameterError when
 * subscribed, before it waits for a connection.
 * @throws TypeError for parameters that are not an array; RangeError or TypeError for bad options, InvalidIdentifierError
 *   for a malformed `key`.
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
  if (options.key !== undefined) checkIdentifier('column', options.key);
  const cursor = { sql, parameters: parameters ? [...parameters] : [], key: options.key };
  const refused = refusedParameters(db.dialect, cursor.parameters, sql);
  return new RowStream<T>(
    (token) => (refused === undefined ? openStream<T>(db, gate, cursor, options, token) : Promise.reject(refused)),
    options,
  );
}
