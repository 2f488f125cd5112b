import type { ColumnSpec, ConcreteType, PortableType } from '../../schema/column';
import { concreteType } from '../sql';

const TYPES: Record<PortableType, string> = {
  integer: 'integer',
  smallint: 'smallint',
  bigint: 'bigint',
  float: 'double',
  decimal: 'decimal',
  string: 'varchar',
  text: 'text',
  boolean: 'boolean',
  datetime: 'datetime',
  date: 'date',
  blob: 'blob',
  json: 'text',
};

/**
 * The sqlite type of a portable column type. Only an INTEGER PRIMARY KEY
 * auto-increments; sqlite's integer is 64 bits, so a generated bigint loses nothing.
 */
export function columnType(column: ColumnSpec): ConcreteType {
  return concreteType(TYPES, column.generated ? { ...column, type: 'integer' } : column);
}
