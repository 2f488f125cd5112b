import type { DialectReadOnly } from '../dialect-replicas';
import { driverErrorCode } from '../driver-error';

/**
 * `PRAGMA query_only = ON` for the transaction (sqlite has no read-only
 * transaction): a write then fails with SQLITE_READONLY before changing
 * anything. The pragma belongs to the connection, which every transaction
 * shares: it is set off again before COMMIT or ROLLBACK.
 */
export const sqliteReadOnly: DialectReadOnly = {
  async beginReadOnly(runner) {
    await runner.query('PRAGMA query_only = ON');
    return async () => {
      await runner.query('PRAGMA query_only = OFF');
    };
  },
  readOnlyRefusal: (error) => (driverErrorCode(error) === 'SQLITE_READONLY' ? 'SQLITE_READONLY' : undefined),
};
