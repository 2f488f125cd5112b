import type { ColumnSpec, ConcreteType, PortableType } from '../../schema/column';
import { concreteType } from '../sql';

const TYPES: Record<PortableType, string> = {
  integer: 'integer',
  smallint: 'smallint',
  bigint: 'bigint',
  float: 'double precision',
  decimal: 'numeric',
  string: 'varchar',
  text: 'text',
  boolean: 'boolean',
  // JavaScript Dates are instants: keep the zone so they read back unchanged.
  datetime: 'timestamptz',
  date: 'date',
  blob: 'bytea',
  json: 'jsonb',
};

/** The postgres type of a portable column type. */
export function columnType(column: ColumnSpec): ConcreteType {
  return concreteType(TYPES, column);
}
