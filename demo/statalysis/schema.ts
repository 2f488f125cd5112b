import type { ColumnSpec, TableOptions } from '../../lib';

/** The tables that keep each distinct value once, under an id (the seed's indexedValues). */
export const VALUE_TABLES = ['vhost', 'url', 'ref', 'ua'] as const;
export type ValueTable = (typeof VALUE_TABLES)[number];

/** Longer values are cut (the seed's valueLength); 500 characters keep a postgres index entry under its 2.7 kB. */
export const VALUE_LENGTH = 500;

/** The columns of `entries` that an import writes, in the order of its INSERT's values. */
export const ENTRY_COLUMNS = [
  'dt',
  'ip',
  'http',
  'bytes',
  'id_vhost',
  'id_url',
  'id_ref',
  'id_ua',
  'id_file',
  'line',
] as const;

/** The columns of `bad_lines`, in the order of its INSERT's values. */
export const BAD_LINE_COLUMNS = ['id_file', 'line', 'reason', 'sample'] as const;

export interface TableDef {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly options?: TableOptions;
}

const id: ColumnSpec = { name: 'id', type: 'integer', primary: true, generated: true };

/** statalysis's schema, after the seed's startup(); `line` and `bad_lines` make imports resumable. */
export const TABLES: readonly TableDef[] = [
  {
    name: 'entries',
    columns: [
      // The generated id also orders requests made within one second.
      id,
      { name: 'dt', type: 'datetime', nullable: false },
      { name: 'ip', type: 'string', length: 45 },
      { name: 'http', type: 'smallint' },
      { name: 'bytes', type: 'bigint' },
      ...VALUE_TABLES.map((t): ColumnSpec => ({ name: `id_${t}`, type: 'integer' })),
      { name: 'id_file', type: 'integer', nullable: false },
      // The line of its file: with id_file unique, so no line is ever stored twice.
      { name: 'line', type: 'integer', nullable: false },
    ],
    options: { index: { dt: ['dt'], ip: ['ip'] }, unique: { file_line: ['id_file', 'line'] } },
  },
  ...VALUE_TABLES.map((name): TableDef => ({
    name,
    columns: [id, { name: 'value', type: 'string', length: VALUE_LENGTH, nullable: false }],
    options: { unique: { value: ['value'] } },
  })),
  {
    // Addresses that drew many client errors: scanners. Their entries stay (purged is false).
    name: 'bad_ip',
    columns: [
      { name: 'ip', type: 'string', length: 45, primary: true },
      { name: 'purged', type: 'boolean', nullable: false },
    ],
  },
  {
    name: 'files',
    columns: [
      id,
      { name: 'name', type: 'string', length: 1000, nullable: false },
      // sha256 of the log's text: the same log under another name, or gzipped, is the same file.
      { name: 'hash', type: 'string', length: 64, nullable: false },
      { name: 'dt', type: 'datetime' },
      // When its import began: added in statalysis 2 (migrations.ts brings older databases up to date).
      { name: 'started', type: 'datetime' },
      // Lines read and committed so far: an interrupted import resumes after them.
      { name: 'lines', type: 'integer', nullable: false },
      { name: 'records', type: 'integer', nullable: false },
      { name: 'bad', type: 'integer', nullable: false },
      { name: 'done', type: 'boolean', nullable: false },
    ],
    options: { unique: { hash: ['hash'] } },
  },
  {
    name: 'bad_lines',
    columns: [
      { name: 'id_file', type: 'integer', nullable: false },
      { name: 'line', type: 'integer', nullable: false },
      { name: 'reason', type: 'string', length: 20, nullable: false },
      // The start of the line, made printable.
      { name: 'sample', type: 'string', length: 120, nullable: false },
    ],
    options: { unique: { file_line: ['id_file', 'line'] } },
  },
];
