import { InvalidIdentifierError } from '../errors';
import { PORTABLE_TYPES, type ColumnSpec } from './column';
import { checkIdentifier, MAX_IDENTIFIER_LENGTH } from './identifiers';

/** Indexes of a table: index name → the columns it covers, in order. */
export interface TableOptions {
  readonly index?: Readonly<Record<string, readonly string[]>>;
  readonly unique?: Readonly<Record<string, readonly string[]>>;
}

/** One index of a table, as created in the database. */
export interface IndexInfo {
  /** The name in the database: `ix_<table>_<name>` or `ux_<table>_<name>`, since index names are per schema. */
  readonly dbName: string;
  readonly columns: readonly string[];
  readonly unique: boolean;
}

/** A table made or checked by `broker.table()`, as `broker.tables[name]` describes it. */
export interface TableInfo {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly indexes: Readonly<Record<string, IndexInfo>>;
}

const TYPES = new Set<string>(PORTABLE_TYPES);

/**
 * Checks a whole table spec before anything touches the database.
 * @throws InvalidIdentifierError for a bad or duplicate name, an unknown type,
 *   or an index on a column the table does not have.
 */
export function checkTableSpec(name: string, columns: readonly ColumnSpec[], options: TableOptions = {}): TableInfo {
  checkIdentifier('table', name);
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new InvalidIdentifierError('table', name, 'a table needs at least one column');
  }
  const seen = new Set<string>();
  for (const column of columns) {
    checkIdentifier('column', column?.name);
    const key = column.name.toLowerCase();
    if (seen.has(key))
      throw new InvalidIdentifierError('column', column.name, `the table ${name} already has a column of that name`);
    seen.add(key);
    if (!TYPES.has(column.type)) {
      throw new InvalidIdentifierError(
        'type',
        String(column.type),
        `column ${column.name}: use one of ${PORTABLE_TYPES.join(', ')}`,
      );
    }
    if (column.generated && !(column.primary && (column.type === 'integer' || column.type === 'bigint'))) {
      throw new InvalidIdentifierError('column', column.name, 'only an integer primary key can be generated');
    }
    if (column.length !== undefined && !(Number.isInteger(column.length) && column.length > 0)) {
      throw new InvalidIdentifierError(
        'column',
        column.name,
        `length must be a positive integer, not ${column.length}`,
      );
    }
  }
  const indexes: Record<string, IndexInfo> = {};
  const addIndexes = (group: TableOptions['index'], unique: boolean): void => {
    for (const [indexName, indexColumns] of Object.entries(group ?? {})) {
      checkIdentifier('index', indexName);
      if (indexes[indexName])
        throw new InvalidIdentifierError('index', indexName, `the table ${name} already has an index of that name`);
      if (!Array.isArray(indexColumns) || indexColumns.length === 0) {
        throw new InvalidIdentifierError('index', indexName, 'an index needs a non-empty array of column names');
      }
      for (const c of indexColumns) {
        if (!columns.some((col) => col.name === c)) {
          throw new InvalidIdentifierError('index', indexName, `the table ${name} has no column ${JSON.stringify(c)}`);
        }
      }
      const dbName = `${unique ? 'ux' : 'ix'}_${name}_${indexName}`;
      if (dbName.length > MAX_IDENTIFIER_LENGTH) {
        throw new InvalidIdentifierError(
          'index',
          indexName,
          `${dbName} is longer than ${MAX_IDENTIFIER_LENGTH} characters`,
        );
      }
      indexes[indexName] = Object.freeze({ dbName, columns: Object.freeze([...indexColumns]), unique });
    }
  };
  addIndexes(options.index, false);
  addIndexes(options.unique, true);
  return Object.freeze({
    name,
    columns: Object.freeze(columns.map((c) => Object.freeze({ ...c }))),
    indexes: Object.freeze(indexes),
  });
}
