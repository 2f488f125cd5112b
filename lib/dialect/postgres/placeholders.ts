import { skipPostgresQuoted } from './sql-text';

/** Strings, dollar quotes, quoted names and comments, as the default server reads them. */
const skipQuoted = skipPostgresQuoted(true);

/**
 * How many values a postgres statement binds: its highest `$n`. Strings
 * (with E'…' backslash escapes), dollar-quoted strings, quoted identifiers
 * and comments (nested, as postgres nests them) are skipped (see
 * skipPostgresQuoted), and a `$` inside an identifier (`a$1`) is part of it.
 */
export function postgresPlaceholderCount(sql: string): number {
  let max = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const digits = c === '$' && !isIdChar(sql[i - 1]) ? /^\$(\d+)/.exec(sql.slice(i, i + 12)) : null;
    const quoted = digits ? undefined : skipQuoted(sql, i);
    if (digits) {
      max = Math.max(max, Number(digits[1]));
      i += digits[0].length;
    } else if (quoted) i = quoted.end;
    else if (isIdChar(c)) {
      // A whole identifier or number at once, so that `$` inside it is not a parameter.
      while (i < sql.length && (isIdChar(sql[i]) || sql[i] === '$')) i++;
    } else i++;
  }
  return max;
}

function isIdChar(c: string | undefined): boolean {
  return c !== undefined && (/[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) >= 0x80);
}

/** The n-th (1-based) placeholder. */
export function placeholder(n: number): string {
  return `$${n}`;
}
