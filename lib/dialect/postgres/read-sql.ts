/** What a read may begin with. */
const READ_START = /^(select|with|values|table)\b/i;

/**
 * Words that make a SELECT or WITH write, lock or need the primary: DML
 * (inside a WITH), SELECT … INTO, FOR UPDATE/SHARE, sequences, NOTIFY,
 * advisory locks, settings, large objects, a transaction id. (DDL and the
 * like cannot stand inside one: they begin statements of their own.)
 */
const WRITES =
  /\b(insert|update|delete|merge|into|for\s+(update|no\s+key\s+update|share|key\s+share)|nextval|setval|pg_notify|pg_advisory\w*|pg_try_advisory\w*|set_config|lo_\w+|txid_current|pg_current_xact_id)\b/i;

/** Comments, quoted strings and quoted identifiers: their text is not SQL. */
const NOT_SQL = /--[^\n]*|\/\*[\s\S]*?\*\/|'(?:[^']|'')*'|"(?:[^"]|"")*"/g;

/**
 * Whether `sql` surely only reads, so that it may run on a replica: one
 * statement beginning with SELECT, WITH, VALUES or TABLE (or a parenthesis
 * before one) with none of the words that may write or lock. Conservative:
 * anything else is not a read (a dollar-quoted string, two statements, a
 * function call the check cannot see into is a read only by its name; a
 * replica that refuses it anyway hands it back to the primary).
 */
export function isReadSql(sql: string): boolean {
  if (sql.includes('$$')) return false;
  const text = sql
    .replace(NOT_SQL, ' ')
    .trim()
    .replace(/^\(+\s*/, '');
  if (!READ_START.test(text)) return false;
  // One statement: a semicolon is only allowed at the end.
  const semicolon = text.indexOf(';');
  if (semicolon !== -1 && text.slice(semicolon + 1).trim() !== '') return false;
  return !WRITES.test(text);
}
