import type { Dialect } from '../dialect';
import { Awaitable } from '../transaction/awaitable';

/**
 * The error a statement's parameters get, checked when the call is made (the
 * dialect checks them again where the driver gets them). Lets `query()`,
 * `prepare().query` and `stream()` fail with the InvalidParameterError itself
 * before anything is queued or a connection is taken.
 */
export function refusedParameters(dialect: Dialect, parameters: readonly unknown[], sql: string): unknown {
  try {
    dialect.bindParameters(parameters, sql);
    return undefined;
  } catch (err) {
    return err;
  }
}

/** An Awaitable that fails with the parameters' error on subscription (or await), if they are refused. */
export function refusedStatement<T>(
  dialect: Dialect,
  parameters: readonly unknown[],
  sql: string,
): Awaitable<T> | undefined {
  const error = refusedParameters(dialect, parameters, sql);
  return error === undefined ? undefined : new Awaitable<T>((subscriber) => subscriber.error(error));
}
