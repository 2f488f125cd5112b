import { MigrationError } from '../errors';

/**
 * `sql` with its bound parameters written in as SQL literals, for a script
 * run by psql or the sqlite3 shell, which bind nothing. Placeholders are
 * `$n` (postgres) or `?` (sqlite), found outside quoted strings and quoted
 * names. Only strings, finite numbers, booleans and null can be written so;
 * anything else (bytes, dates, objects) is refused rather than guessed at.
 * @throws MigrationError for a value that has no plain literal.
 */
export function withLiterals(sql: string, parameters: readonly unknown[], migration: string): string {
  if (parameters.length === 0) return sql;
  let out = '';
  let next = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop + 1);
      i = stop;
    } else if (c === '?') {
      out += literal(parameters[next++], migration);
    } else if (c === '$' && /\d/.test(sql[i + 1] ?? '')) {
      const digits = /^\d+/.exec(sql.slice(i + 1))![0];
      out += literal(parameters[Number(digits) - 1], migration);
      i += digits.length;
    } else {
      out += c;
    }
  }
  return out;
}

function literal(value: unknown, migration: string): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  throw new MigrationError(
    `migration ${migration} binds a value a script cannot write as a plain SQL literal (${typeof value}): ` +
      'run it with broker.migrate(), or bind strings and numbers only',
    { migration },
  );
}
