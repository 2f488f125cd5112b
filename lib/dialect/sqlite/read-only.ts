import { ReadOnlyError } from '../../errors';
import { driverErrorCode } from '../driver-error';
import type { SqliteQuery, SqliteStep } from './sql-calls';

/**
 * Why a stream's statement failed, as the caller should hear it. A stream
 * wraps its SQL in a SELECT (`SELECT * FROM (sql)`, `CREATE TABLE … AS sql`),
 * where a statement that writes is a syntax error and never runs. If the
 * statement compiles by itself and its program opens a write transaction on a
 * database other than temp (what sqlite3_stmt_readonly looks at), it is run
 * for one step on the read-only connection: sqlite refuses it at that first
 * step, before any change, and the refusal's code makes it a ReadOnlyError.
 * Other statements are never run by themselves (ATTACH or VACUUM INTO would
 * create files even on a read-only connection): their error stays as it was.
 */
export async function explainFailure(
  error: unknown,
  all: SqliteQuery,
  step: SqliteStep,
  sql: string,
  parameters: unknown[],
): Promise<unknown> {
  if (driverErrorCode(error) !== 'SQLITE_ERROR') return error;
  try {
    const program = await all(`EXPLAIN ${sql}`, parameters);
    if (!program.some(opensWriteTransaction)) return error;
    await step(sql, parameters);
  } catch (refused) {
    const code = driverErrorCode(refused);
    if (code !== 'SQLITE_READONLY') return error;
    const reason = refused instanceof Error ? refused.message : String(refused);
    return new ReadOnlyError(`the statement writes, and sqlite refused it (${reason}); nothing was changed`, {
      sql,
      code,
      cause: refused,
    });
  }
  return error;
}

/** OP_Transaction with P2 non-zero starts a write transaction on database P1 (1 is temp). */
function opensWriteTransaction(op: Record<string, unknown>): boolean {
  return op.opcode === 'Transaction' && Number(op.p2) !== 0 && Number(op.p1) !== 1;
}
