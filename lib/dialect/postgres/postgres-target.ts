import type { DataSourceOptions } from 'typeorm';
import type { ParsedTarget } from '../dialect';
import { redactPassword, TargetSyntaxError } from '../target-syntax';

export const POSTGRES_FORMS = "'postgres://user:pass@host:5432/db?max=10' (or postgresql://)";

/** `postgres://user:pass@host:5432/db?max=10`, `postgresql://` too; `max` is the pool size. */
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
  const shown = new URL(url.toString());
  if (poolSize) shown.searchParams.set('max', String(poolSize));
  const options: DataSourceOptions = { type: 'postgres', url: url.toString(), ...(poolSize ? { poolSize } : {}) };
  // postgresql:// and postgres:// name the same database: one DataSource for both.
  const key = `${url.toString().replace(/^postgresql:/, 'postgres:')}#max=${poolSize ?? ''}`;
  return { key, label: redactPassword(shown.toString()), options };
}
