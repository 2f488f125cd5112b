import type { DataSourceOptions } from 'typeorm';
import type { DialectTarget, ParsedTarget } from '../dialect';
import { redactPassword, TargetSyntaxError } from '../target-syntax';
import { checkPostgresDataSource, tunePostgresDataSource } from './adopted';
import { postgresOptions, PREPARE_PARAM, takePrepare, withoutPrepared } from './options';

export const POSTGRES_FORMS = "'postgres://user:pass@host:5432/db?max=10' (or postgresql://)";

/**
 * `postgres://user:pass@host:5432/db?max=10&connect_timeout=10&prepare=false`,
 * `postgresql://` too; `max` is the pool size, `connect_timeout` (seconds,
 * libpq's name) bounds opening a connection, `prepare=false` sends no named
 * prepared statement (see {@link PREPARE_PARAM}; true or false, true by default).
 */
export function parsePostgresUrl(target: string): ParsedTarget {
  const fail = (reason: string, cause?: unknown) => new TargetSyntaxError(redactPassword(target), reason, { cause });
  let url: URL;
  try {
    url = new URL(target);
  } catch (cause) {
    throw fail('malformed URL', cause);
  }
  if (url.hostname === '') throw fail('no host');
  if (url.pathname.length <= 1) throw fail('no database name');
  const maxParam = url.searchParams.get('max');
  let poolSize: number | undefined;
  if (maxParam !== null) {
    poolSize = Number(maxParam);
    if (!Number.isInteger(poolSize) || poolSize < 2)
      throw fail(`max must be an integer of at least 2, not ${maxParam}`);
    url.searchParams.delete('max');
  }
  // libpq's connect_timeout (seconds); node-postgres reads it only from connectionTimeoutMillis.
  const timeoutParam = url.searchParams.get('connect_timeout');
  let connectTimeoutMS: number | undefined;
  if (timeoutParam !== null) {
    const seconds = Number(timeoutParam);
    if (!(timeoutParam.trim() !== '' && Number.isInteger(seconds) && seconds >= 0 && seconds <= 2_147_483))
      throw fail(`connect_timeout must be a whole number of seconds (0: wait forever), not ${timeoutParam}`);
    connectTimeoutMS = seconds * 1000;
    url.searchParams.delete('connect_timeout');
  }
  const prepareParam = url.searchParams.get(PREPARE_PARAM);
  const prepare = takePrepare(url, fail);
  const shown = new URL(url.toString());
  if (poolSize) shown.searchParams.set('max', String(poolSize));
  if (timeoutParam !== null) shown.searchParams.set('connect_timeout', timeoutParam);
  if (prepareParam !== null) shown.searchParams.set(PREPARE_PARAM, prepareParam);
  const options: DataSourceOptions = {
    type: 'postgres',
    url: url.toString(),
    ...(poolSize ? { poolSize } : {}),
    ...(connectTimeoutMS !== undefined ? { connectTimeoutMS } : {}),
  };
  // postgresql:// and postgres:// name the same database: one DataSource for both.
  // prepare=false is another DataSource (its connections are set up otherwise); =true is the default's.
  const key =
    `${url.toString().replace(/^postgresql:/, 'postgres:')}#max=${poolSize ?? ''}` +
    `#connect_timeout=${connectTimeoutMS ?? ''}${prepare ? '' : '#prepare=false'}`;
  return { key, label: redactPassword(shown.toString()), options: prepare ? options : withoutPrepared(options) };
}

/** How postgres targets are read, and the options their DataSource is made with. */
export const postgresTarget: DialectTarget = {
  urlForms: POSTGRES_FORMS,
  ownsUrl: (url) => /^postgres(ql)?:\/\//.test(url),
  parseUrl: parsePostgresUrl,
  dataSourceOptions: postgresOptions,
  checkDataSource: checkPostgresDataSource,
  tuneDataSource: tunePostgresDataSource,
};
