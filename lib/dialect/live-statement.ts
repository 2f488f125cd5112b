import { LiveQueryError } from '../errors';
import type { TableRef } from './dialect-live';

/**
 * A dialect's lexing of what it skips as a whole: at `i`, a string, a
 * quoted name or a comment? Then where it ends, and whether it was a
 * comment (which starts no statement). Undefined for anything else.
 */
export type SkipQuoted = (sql: string, i: number) => { readonly end: number; readonly comment: boolean } | undefined;

/** What the text of a statement shows of its kind, lexed only (never parsed). */
export interface StatementShape {
  /**
   * The first token of the first statement, upper case: its keyword
   * (`SELECT`, `PRAGMA`…), or the character it starts with otherwise (`(`);
   * undefined when the text is blank.
   */
  readonly first: string | undefined;
  /** How many statements: anything but blanks and comments after a `;` starts another. */
  readonly statements: number;
  /** Every bare word outside strings, quoted names and comments, upper case. */
  readonly words: ReadonlySet<string>;
}

/**
 * Lexes `sql` just enough to tell its first keyword, its bare words and how
 * many statements it holds, skipping what `skip` says (strings, quoted
 * names, comments, each as its dialect writes them).
 */
export function statementShape(sql: string, skip: SkipQuoted): StatementShape {
  let first: string | undefined;
  let statements = 0;
  let inStatement = false;
  const words = new Set<string>();
  const token = (text: string) => {
    if (inStatement) return;
    inStatement = true;
    if (++statements === 1) first = text.toUpperCase();
  };
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const skipped = skip(sql, i);
    if (skipped) {
      if (!skipped.comment) token(c);
      i = Math.max(skipped.end, i + 1);
    } else if (c === ';') {
      inStatement = false;
      i++;
    } else if (isWordChar(c)) {
      // A whole word or number at once, `$` included (`a$b`, sqlite's `$name`).
      let end = i + 1;
      while (end < sql.length && (isWordChar(sql[end]!) || sql[end] === '$')) end++;
      const word = sql.slice(i, end);
      token(word);
      if (!/^[0-9]/.test(word)) words.add(word.toUpperCase());
      i = end;
    } else {
      if (!/\s/.test(c)) token(c);
      i++;
    }
  }
  return { first, statements, words };
}

/**
 * Refuses, as LiveQueryError 'not-a-query', text that is not one query: blank,
 * several statements (a driver would run them all, or only the first), or a
 * statement whose first keyword is not one of `starts`. The keyword decides
 * the statement's kind in SQL's grammar, so this is no guess; it is checked
 * before anything is sent, so that the database's own errors (a missing
 * table, a syntax error) reach the caller as they are.
 */
export function checkOneQuery(sql: string, shape: StatementShape, starts: readonly string[]): void {
  if (shape.first === undefined) {
    throw new LiveQueryError('not-a-query', sql, 'a live query needs a SELECT statement: the SQL given is blank');
  }
  if (shape.statements > 1) {
    throw new LiveQueryError(
      'not-a-query',
      sql,
      `a live query is one SELECT statement, and this SQL holds ${shape.statements} (separated by ';'): ` +
        'pass one query, and run the others with query() or transact()',
    );
  }
  if (!starts.includes(shape.first)) {
    const words = starts.map((w) => (w === '(' ? 'a parenthesis' : w)).join(', ');
    throw new LiveQueryError(
      'not-a-query',
      sql,
      `a live query reads: it must be a query (starting with ${words}), ` +
        `not a statement starting with ${shape.first}; run statements that write or change settings with ` +
        'query() or transact()',
    );
  }
}

/** The tables once each, ordered by schema then name (code unit order: the same everywhere). */
export function uniqueTables(tables: Iterable<TableRef>): TableRef[] {
  const byKey = new Map<string, TableRef>();
  for (const t of tables) byKey.set(JSON.stringify([t.schema ?? '', t.name]), t);
  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...byKey.values()].sort((a, b) => order(a.schema ?? '', b.schema ?? '') || order(a.name, b.name));
}

/** `schema.name` (or the name alone), for messages. */
export function tableLabel(table: TableRef): string {
  return table.schema === undefined ? `"${table.name}"` : `"${table.schema}"."${table.name}"`;
}

function isWordChar(c: string): boolean {
  return /[A-Za-z0-9_]/.test(c) || c.charCodeAt(0) >= 0x80;
}
