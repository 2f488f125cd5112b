import { InvalidIdentifierError, type IdentifierKind } from '../errors';

/** Postgres truncates identifiers longer than this; sqlite has no limit. */
export const MAX_IDENTIFIER_LENGTH = 63;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Words reserved in postgres or sqlite (or in standard SQL where both follow
 * it). A table named `order` works only while every query quotes it; sasync
 * refuses such names so raw SQL written against its tables stays simple.
 */
const RESERVED = new Set(
  (
    'abort action add after all alter analyze and any array as asc attach autoincrement before begin between both by ' +
    'cascade case cast check collate column commit conflict constraint create cross current current_date ' +
    'current_time current_timestamp current_user database default deferrable deferred delete desc detach distinct do ' +
    'drop each else end escape except exclusive exists explain fail false fetch for foreign from full glob grant ' +
    'group having if ignore immediate in index indexed initially inner insert instead intersect into is isnull join ' +
    'key lateral leading left like limit match natural no not nothing notnull null of offset on only or order outer ' +
    'over plan pragma primary query raise recursive references regexp reindex release rename replace restrict ' +
    'returning right rollback row savepoint select session_user set some symmetric table temp temporary then to ' +
    'trailing transaction trigger true union unique update user using vacuum values view virtual when where window with without'
  ).split(' '),
);

/**
 * Checks a table, column or index name: letters, digits and underscores, not
 * starting with a digit, at most 63 characters, not a reserved word.
 * @throws InvalidIdentifierError saying what is wrong and what would do.
 */
export function checkIdentifier(kind: IdentifierKind, name: unknown): string {
  if (typeof name !== 'string') throw new InvalidIdentifierError(kind, String(name), 'a name must be a string');
  if (name.length === 0) throw new InvalidIdentifierError(kind, name, 'a name cannot be empty');
  if (name.length > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidIdentifierError(kind, name, `use at most ${MAX_IDENTIFIER_LENGTH} characters`);
  }
  if (!IDENTIFIER.test(name)) {
    throw new InvalidIdentifierError(
      kind,
      name,
      'use only letters, digits and underscores, not starting with a digit (quotes, spaces and semicolons are refused)',
    );
  }
  if (RESERVED.has(name.toLowerCase())) {
    throw new InvalidIdentifierError(kind, name, `it is an SQL keyword; try ${name}_ or a longer name`);
  }
  return name;
}
