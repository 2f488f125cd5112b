import { skipSqliteQuoted } from './sql-text';

/**
 * How many values a sqlite statement binds: its highest parameter index, as
 * sqlite numbers them (`?` takes the next index, `?NNN` index NNN, and
 * `:name`, `@name`, `$name` the next index the first time a name appears).
 * node-sqlite3 binds NULL for every index it is given no value for, so
 * sasync counts them itself. Strings, quoted identifiers and comments are
 * skipped; the count stops at the first `;`, since node-sqlite3 runs only
 * the first statement.
 */
export function sqlitePlaceholderCount(sql: string): number {
  const names = new Set<string>();
  let max = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const quoted = skipSqliteQuoted(sql, i);
    if (quoted) i = quoted.end;
    else if (c === ';') break;
    else if (c === '?') {
      const end = skip(sql, i + 1, isDigit);
      max = end > i + 1 ? Math.max(max, Number(sql.slice(i + 1, end))) : max + 1;
      i = end;
    } else if (c === ':' || c === '@' || c === '$') {
      const end = skip(sql, i + 1, isIdChar);
      const name = sql.slice(i, end);
      if (end > i + 1 && !names.has(name)) {
        names.add(name);
        max++;
      }
      i = Math.max(end, i + 1);
    } else i++;
  }
  return max;
}

function skip(sql: string, from: number, accept: (c: string) => boolean): number {
  let i = from;
  while (i < sql.length && accept(sql[i]!)) i++;
  return i;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

/** sqlite's identifier characters: letters, digits, `_`, `$` and anything beyond ASCII. */
function isIdChar(c: string): boolean {
  return /[A-Za-z0-9_$]/.test(c) || c.charCodeAt(0) >= 0x80;
}

/** Every placeholder is `?` (sqlite numbers them in order). */
export function placeholder(): string {
  return '?';
}
