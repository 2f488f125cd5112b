import type { SkipQuoted } from '../live-statement';

/**
 * What sqlite reads as one piece: a string (`'…'`), a quoted name (`"…"`,
 * `` `…` ``, `[…]`), a comment (`--` to the line's end, `/* … *\/`, not
 * nested). A doubled quote inside closes and opens again, which ends at
 * the same place.
 */
export const skipSqliteQuoted: SkipQuoted = (sql, i) => {
  const c = sql[i];
  if (c === "'" || c === '"' || c === '`') return { end: after(sql, c, i + 1), comment: false };
  if (c === '[') return { end: after(sql, ']', i + 1), comment: false };
  if (c === '-' && sql[i + 1] === '-') return { end: after(sql, '\n', i + 2), comment: true };
  if (c === '/' && sql[i + 1] === '*') return { end: after(sql, '*/', i + 2), comment: true };
  return undefined;
};

function after(sql: string, close: string, from: number): number {
  const end = sql.indexOf(close, from);
  return end < 0 ? sql.length : end + close.length;
}
