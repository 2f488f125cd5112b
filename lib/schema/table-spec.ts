import { InvalidIdentifierError, InvalidSpecError } from '../errors';
import type { ColumnSpec } from './column';
import { checkColumn, MAX_COLUMNS } from './column-check';
import { checkIdentifier, MAX_IDENTIFIER_LENGTH } from './identifiers';
import { copyList, plainCopy } from './spec-values';

/** Indexes of a table: index name → the columns it covers, in order. */
export interface TableOptions {
  /** Indexes by name, each a list of columns: `{ dt: ['dt'] }` makes `ix_<table>_dt`. */
  readonly index?: Readonly<Record<string, readonly string[]>>;
  /** Unique indexes by name, each a list of columns: `{ url: ['url'] }` makes `ux_<table>_url`. */
  readonly unique?: Readonly<Record<string, readonly string[]>>;
  /**
   * When the table is already there without some of the spec's columns, add
   * them (nullable ones: a NOT NULL column cannot be added to a table with
   * rows, since table() has no defaults). Without it, a missing column fails
   * with SchemaDriftError. Never drops or changes a column or index.
   */
  readonly evolve?: boolean;
}

/** One index of a table, as created in the database. */
export interface IndexInfo {
  /** The name in the database: `ix_<table>_<name>` or `ux_<table>_<name>`, since index names are per schema. */
  readonly dbName: string;
  /** Its columns, in order. */
  readonly columns: readonly string[];
  /** A unique index (from the `unique` option). */
  readonly unique: boolean;
}

/** A table made or checked by `broker.table()`, as `broker.tables[name]` describes it. */
export interface TableInfo {
  /** The table's name. */
  readonly name: string;
  /** Its columns, as checked. */
  readonly columns: readonly ColumnSpec[];
  /** Its indexes, by the name given in the options (`dt`, not `ix_entries_dt`). */
  readonly indexes: Readonly<Record<string, IndexInfo>>;
}

const OPTION_FIELDS = new Set(['index', 'unique', 'evolve']);

/**
 * Checks a whole table spec before anything touches the database. Every field
 * that reaches SQL is checked here (TypeORM splices type arguments into DDL):
 * names, types, lengths, precisions and scales, flags, indexes. The spec is
 * copied first and only the copy is checked and used, so a getter or Proxy
 * cannot answer the check with one value and the DDL with another.
 * @throws InvalidIdentifierError for a bad or duplicate name, an unknown type,
 *   or an index on a column the table does not have.
 * @throws InvalidSpecError for any other field out of range, of the wrong
 *   type, or unknown.
 */
export function checkTableSpec(name: string, columns: readonly ColumnSpec[], options: TableOptions = {}): TableInfo {
  checkIdentifier('table', name);
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new InvalidIdentifierError('table', name, 'a table needs at least one column');
  }
  const specs = copyList(name, 'columns', columns);
  if (specs.length > MAX_COLUMNS) {
    throw new InvalidSpecError(
      name,
      undefined,
      'columns',
      `has ${specs.length} entries; postgres allows ${MAX_COLUMNS}`,
    );
  }
  const checked: ColumnSpec[] = [];
  const seen = new Set<string>();
  for (const [i, spec] of specs.entries()) {
    const column = checkColumn(name, i, spec);
    const key = column.name.toLowerCase();
    if (seen.has(key))
      throw new InvalidIdentifierError('column', column.name, `the table ${name} already has a column of that name`);
    seen.add(key);
    checked.push(column);
  }
  checkPrimary(name, checked);
  const opts = plainCopy(name, undefined, 'options', options ?? {});
  for (const field of Object.keys(opts)) {
    if (!OPTION_FIELDS.has(field)) {
      throw new InvalidSpecError(
        name,
        undefined,
        `options.${field}`,
        'is not an option of table(): use index, unique or evolve',
      );
    }
  }
  if (opts.evolve !== undefined && typeof opts.evolve !== 'boolean') {
    throw new InvalidSpecError(name, undefined, 'options.evolve', 'must be true or false');
  }
  const indexes: Record<string, IndexInfo> = {};
  const addIndexes = (field: 'index' | 'unique'): void => {
    const unique = field === 'unique';
    const group = opts[field] === undefined ? {} : plainCopy(name, undefined, `options.${field}`, opts[field]);
    for (const [indexName, given] of Object.entries(group)) {
      checkIdentifier('index', indexName);
      if (indexes[indexName])
        throw new InvalidIdentifierError('index', indexName, `the table ${name} already has an index of that name`);
      if (!Array.isArray(given) || given.length === 0) {
        throw new InvalidIdentifierError('index', indexName, 'an index needs a non-empty array of column names');
      }
      const indexColumns = copyList(name, `options.${field}.${indexName}`, given);
      for (const [k, c] of indexColumns.entries()) {
        if (!checked.some((col) => col.name === c)) {
          throw new InvalidIdentifierError(
            'index',
            indexName,
            `the table ${name} has no column ${typeof c === 'string' ? JSON.stringify(c) : `(${typeof c})`}`,
          );
        }
        if (indexColumns.indexOf(c) !== k) {
          throw new InvalidIdentifierError('index', indexName, `it names the column ${String(c)} twice`);
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
      indexes[indexName] = Object.freeze({ dbName, columns: Object.freeze(indexColumns as string[]), unique });
    }
  };
  addIndexes('index');
  addIndexes('unique');
  return Object.freeze({ name, columns: Object.freeze(checked), indexes: Object.freeze(indexes) });
}

/** At most one generated column, and only as the whole primary key (sqlite's AUTOINCREMENT). */
function checkPrimary(table: string, columns: readonly ColumnSpec[]): void {
  const primary = columns.filter((c) => c.primary);
  const generated = columns.find((c) => c.generated);
  if (generated && primary.length > 1) {
    throw new InvalidSpecError(
      table,
      generated.name,
      'generated',
      'needs the column to be the only primary key column (sqlite cannot auto-increment part of a key)',
    );
  }
}
