/**
 * How many values a postgres statement binds: its highest `$n`. Strings
 * (with E'…' backslash escapes), dollar-quoted strings, quoted identifiers
 * and comments (nested, as postgres nests them) are skipped, and a `$` inside
 * an identifier (`a$1`) is part of it.
 */
export function postgresPlaceholderCount(sql: string): number {
  let max = 0;
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'") i = isEscapeString(sql, i) ? afterEscapeString(sql, i + 1) : after(sql, "'", i + 1);
    else if (c === '"') i = after(sql, '"', i + 1);
    else if (c === '-' && sql[i + 1] === '-') i = after(sql, '\n', i + 2);
    else if (c === '/' && sql[i + 1] === '*') i = afterComment(sql, i + 2);
    else if (c === '$' && !isIdChar(sql[i - 1])) {
      const digits = /^\$(\d+)/.exec(sql.slice(i, i + 12));
      const tag = digits ? undefined : /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i));
      if (digits) {
        max = Math.max(max, Number(digits[1]));
        i += digits[0].length;
      } else if (tag) i = after(sql, tag[0], i + tag[0].length);
      else i++;
    } else if (isIdChar(c)) {
      // A whole identifier or number at once, so that `$` inside it is not a parameter.
      while (i < sql.length && (isIdChar(sql[i]) || sql[i] === '$')) i++;
    } else i++;
  }
  return max;
}

function after(sql: string, close: string, from: number): number {
  const end = sql.indexOf(close, from);
  return end < 0 ? sql.length : end + close.length;
}

/** 'E' or 'e' right before the quote, not the end of a longer identifier. */
function isEscapeString(sql: string, quote: number): boolean {
  const e = sql[quote - 1];
  return (e === 'E' || e === 'e') && !isIdChar(sql[quote - 2]);
}

function afterEscapeString(sql: string, from: number): number {
  for (let i = from; i < sql.length; i++) {
    if (sql[i] === '\\') i++;
    else if (sql[i] === "'") return i + 1;
  }
  return sql.length;
}

function afterComment(sql: string, from: number): number {
  let depth = 1;
  let i = from;
  while (i < sql.length && depth > 0) {
    if (sql.startsWith('/*', i)) depth++;
    else if (sql.startsWith('*/', i)) depth--;
    else {
      i++;
      continue;
    }
    i += 2;
  }
  return i;
}

function isIdChar(c: string | undefined): boolean {
  return c !== undefined && (/[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) >= 0x80);
}

/** The n-th (1-based) placeholder. */
export function placeholder(n: number): string {
  return `$${n}`;
}
