import type { ColumnSpec } from '../schema/column';
import type { TableOptions } from '../schema/table-spec';

/**
 * A store's table: its name and how to make it. The names below are the
 * only place the stores spell them; the SQL, the notice channel and the
 * start-up all take them from here.
 */
export interface StoreTable {
  readonly name: string;
  readonly columns: readonly ColumnSpec[];
  readonly options: TableOptions;
}

/** `sasync_items(group_id, name, value)`, shared by every Items and PersistentDict group. */
export const ITEMS_TABLE: StoreTable = {
  name: 'sasync_items',
  columns: [
    { name: 'group_id', type: 'string', length: 255, nullable: false },
    { name: 'name', type: 'string', length: 255, nullable: false },
    { name: 'value', type: 'text', nullable: false },
  ],
  options: { unique: { group_name: ['group_id', 'name'] } },
};

/** `sasync_array(group_id, x, y, z, value)`, shared by every PersistentArray. */
export const ARRAY_TABLE: StoreTable = {
  name: 'sasync_array',
  columns: [
    { name: 'group_id', type: 'string', length: 255, nullable: false },
    { name: 'x', type: 'string', length: 255, nullable: false },
    { name: 'y', type: 'string', length: 255, nullable: false },
    { name: 'z', type: 'string', length: 255, nullable: false },
    { name: 'value', type: 'text', nullable: false },
  ],
  options: { unique: { group_xyz: ['group_id', 'x', 'y', 'z'] } },
};
