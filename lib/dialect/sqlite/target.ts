import path from 'node:path';
import type { DialectTarget, ParsedTarget } from '../dialect';
import { TargetSyntaxError } from '../target-syntax';
import { checkSqliteDataSource, tuneSqliteDataSource } from './adopted';
import { sqliteOptions } from './options';

export const SQLITE_FORMS = "'sqlite::memory:', 'sqlite:relative/path.db', 'sqlite:///absolute/path.db'";

/** `sqlite::memory:`, `sqlite:relative/path.db`, `sqlite:///absolute/path.db`. */
export function parseSqliteUrl(target: string): ParsedTarget {
  const rest = target.slice('sqlite:'.length);
  if (rest === ':memory:') {
    return { key: 'sqlite::memory:', label: target, options: { type: 'sqlite', database: ':memory:' } };
  }
  let file: string;
  if (rest.startsWith('///')) file = rest.slice(2);
  else if (rest.startsWith('//'))
    throw new TargetSyntaxError(target, "a host is not allowed: use 'sqlite:///absolute/path.db'");
  else file = rest;
  if (file === '' || file.endsWith('/')) throw new TargetSyntaxError(target, 'no file name');
  if (file.includes('\0')) throw new TargetSyntaxError(target, 'the path contains a NUL byte');
  const database = path.resolve(file);
  return { key: `sqlite:${database}`, label: `sqlite:${database}`, options: { type: 'sqlite', database } };
}

/** How sqlite targets are read, and the options their DataSource is made with. */
export const sqliteTarget: DialectTarget = {
  urlForms: SQLITE_FORMS,
  ownsUrl: (url) => url.startsWith('sqlite:'),
  parseUrl: parseSqliteUrl,
  dataSourceOptions: sqliteOptions,
  checkDataSource: checkSqliteDataSource,
  tuneDataSource: tuneSqliteDataSource,
};
