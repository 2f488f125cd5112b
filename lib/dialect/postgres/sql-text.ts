import type { SkipQuoted } from '../live-statement';

/**
 * What postgres reads as one piece: a string (`'…'` with `''`, `E'…'` with
 * backslash escapes too), a dollar-quoted string (`$$…$$`, `$tag$…$tag$`), a
 * quoted name (`"…"`), a comment (`--` to the line's end, `/* … *\/` nested as
 * postgres nests them). `standardStrings` is the server's
 * standard_conforming_strings (on by default since postgres 9.1): off, a
 * backslash escapes the next character in plain strings too.
 */
export function skipPostgresQuoted(standardStrings: boolean): SkipQuoted {
  return (sql, i) => {
    const c = sql[i];
    if (c === "'") {
      const escapes = !standardStrings || isEscapeString(sql, i);
      return { end: escapes ? afterEscapeString(sql, i + 1) : after(sql, "'", i + 1), comment: false };
    }
    if (c === '"') return { end: after(sql, '"', i + 1), comment: false };
    if (c === '-' && sql[i + 1] === '-') return { end: after(sql, '\n', i + 2), comment: true };
    if (c === '/' && sql[i + 1] === '*') return { end: afterComment(sql, i + 2), comment: true };
    // The caller reads words whole (`a$b`): a `$` here starts a token, a dollar quote if a tag follows.
    if (c === '$') {
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 200));
      if (tag) return { end: after(sql, tag[0], i + tag[0].length), comment: false };
    }
    return undefined;
  };
}

/** Past the next `close` from `from`; a doubled quote closes and opens again, which ends alike. */
function after(sql: string, close: string, from: number): number {
  const end = sql.indexOf(close, from);
  return end < 0 ? sql.length : end + close.length;
}

/** 'E' or 'e' right before the quote, not the end of a longer word. */
function isEscapeString(sql: string, quote: number): boolean {
  const e = sql[quote - 1];
  return (e === 'E' || e === 'e') && !/[A-Za-z0-9_$\u0080-\uffff]/.test(sql[quote - 2] ?? ' ');
}

function afterEscapeString(sql: string, from: number): number {
  for (let i = from; i < sql.length; i++) {
    if (sql[i] === '\\') i++;
    else if (sql[i] === "'") {
      if (sql[i + 1] !== "'") return i + 1;
      i++;
    }
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
