import type { DialectReadOnly } from '../dialect-replicas';
import { driverErrorCode } from '../driver-error';

/** read_only_sql_transaction. */
const READ_ONLY_SQL_TRANSACTION = '25006';

/**
 * `SET TRANSACTION READ ONLY` right after BEGIN: the pipeline sends it with
 * BEGIN and the first statement (no round trip of its own), and it ends with
 * the transaction. postgres then refuses INSERT, UPDATE, DELETE, DDL, FOR
 * UPDATE and nextval() with 25006, before changing anything.
 */
export const postgresReadOnly: DialectReadOnly = {
  async beginReadOnly(runner) {
    await runner.query('SET TRANSACTION READ ONLY');
    return undefined;
  },
  readOnlyRefusal: (error) =>
    driverErrorCode(error) === READ_ONLY_SQL_TRANSACTION ? READ_ONLY_SQL_TRANSACTION : undefined,
};
