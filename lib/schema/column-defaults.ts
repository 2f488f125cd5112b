import type { ColumnSpec } from './column';
import { DEFAULT_PRECISION, DEFAULT_SCALE } from './column-check';

/** A decimal's default scale never exceeds its precision (`decimal(4)` is `numeric(4, 4)`, not `(4, 6)`). */
export function withScale(column: ColumnSpec): ColumnSpec {
  if (column.type !== 'decimal' || column.scale !== undefined) return column;
  return { ...column, scale: Math.min(DEFAULT_SCALE, column.precision ?? DEFAULT_PRECISION) };
}
