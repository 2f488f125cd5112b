import type { StoreTable } from '../stores/tables';

/**
 * `sasync_changes`: the commit-ordered change log every store write appends
 * to in its own transaction (one per database, or per postgres schema, like
 * the store tables). An entry names what changed (the store table, the
 * group, the key as stored or null for the whole group, the operation),
 * never a value: readers read values from the store table.
 *
 * `id` is the insertion order (on sqlite also the commit order: one writer
 * at a time; AUTOINCREMENT, so ids are never reused after pruning). `xid` is
 * the writing transaction's postgres id (`pg_current_xact_id()`), which a
 * reader compares with its snapshots to know what has finished
 * committing; null on sqlite. `at` is the writer's clock in ms, for pruning.
 */
export const CHANGES_TABLE: StoreTable = {
  name: 'sasync_changes',
  columns: [
    { name: 'id', type: 'bigint', primary: true, generated: true },
    { name: 'xid', type: 'bigint', nullable: true },
    { name: 'kind', type: 'string', length: 63, nullable: false },
    { name: 'grp', type: 'string', length: 255, nullable: false },
    { name: 'name', type: 'text', nullable: true },
    { name: 'op', type: 'string', length: 8, nullable: false },
    { name: 'origin', type: 'string', length: 64, nullable: true },
    { name: 'at', type: 'bigint', nullable: false },
  ],
  // Readers on postgres scan by (xid, id) from their watermark.
  options: { index: { xid: ['xid', 'id'] } },
};
