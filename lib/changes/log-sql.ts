import type { Statement } from '../stores/statement';
import type { AppendMeta, ChangeEntry } from './entry';
import type { LogDialect } from './log-dialect';
import { CHANGES_TABLE } from './log-table';

/**
 * One multi-row INSERT of a write's entries (at most MAX_ENTRIES_PER_WRITE:
 * see boundedEntries), sent with the write's other statements in its
 * transaction: an entry commits if and only if its write does.
 */
export function appendStatement(
  dialect: LogDialect,
  p: (n: number) => string,
  meta: AppendMeta,
  entries: readonly ChangeEntry[],
): Statement {
  if (dialect.append) return dialect.append(p, meta, entries);
  const parameters: unknown[] = [];
  const rows = entries.map(({ name, op }) => {
    const n = parameters.push(meta.kind, meta.grp, name, op, meta.origin, meta.at);
    const at = (i: number) => p(n - 5 + i);
    return `(${dialect.xidValue}, ${at(0)}, ${at(1)}, ${at(2)}, ${at(3)}, ${at(4)}, ${at(5)})`;
  });
  return {
    sql: `INSERT INTO ${CHANGES_TABLE.name} (xid, kind, grp, name, op, origin, at) VALUES ${rows.join(', ')}`,
    parameters,
  };
}
