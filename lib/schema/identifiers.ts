import { InvalidIdentifierError, type IdentifierKind } from '../errors';
import { describe } from './spec-values';

/** Postgres truncates identifiers longer than this; sqlite has no limit. */
export const MAX_IDENTIFIER_LENGTH = 63;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Words postgres reserves (including those it allows only as function or type
 * names) and words sqlite refuses as bare identifiers. A table named `order`
 * works only while every query quotes it; sasync refuses such names so raw
 * SQL written against its tables stays simple. Words either database accepts
 * unquoted (`key`, `value`, `name`, `action`, `query`…) are fine.
 */
const RESERVED = new Set(
  // postgres: reserved (system_user from version 16)
  (
    'all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create ' +
    'current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc ' +
    'distinct do else end except false fetch for foreign from grant group having in initially intersect into lateral ' +
    'leading limit localtime localtimestamp not null offset on only or order placing primary references returning ' +
    'select session_user some symmetric system_user table then to trailing true union unique user using variadic ' +
    'when where window with ' +
    // postgres: reserved, but allowed as function or type names
    'authorization binary collation concurrently cross current_schema freeze full ilike inner is isnull join left ' +
    'like natural notnull outer overlaps right similar tablesample verbose ' +
    // sqlite: not usable as bare identifiers
    'add alter autoincrement between commit delete drop escape exists index insert nothing set ' +
    'transaction update values'
  ).split(' '),
);

/**
 * Checks a table, column or index name: letters, digits and underscores, not
 * starting with a digit, at most 63 characters, not a reserved word.
 * @throws InvalidIdentifierError saying what is wrong and what would do.
 */
export function checkIdentifier(kind: IdentifierKind, name: unknown): string {
  if (typeof name !== 'string') throw new InvalidIdentifierError(kind, describe(name), 'a name must be a string');
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
