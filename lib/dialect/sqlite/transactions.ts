import type { QueryRunner } from 'typeorm';
import type { DialectTransactions } from '../dialect';
import { driverErrorCode } from '../driver-error';
import { checkIdentity, identityOf } from './file-identity';

/** Another connection (another process) holds the lock: re-running may succeed. */
const RETRYABLE = new Set(['SQLITE_BUSY']);

export const sqliteTransactions: DialectTransactions = {
  // sqlite transactions are always serializable, which satisfies any level a
  // caller asks for; TypeORM would reject every level but two.
  isolation: () => undefined,

  isRetryable: (error) => RETRYABLE.has(driverErrorCode(error) ?? ''),

  // No round trip to spare: COMMIT goes after the last statement's answer.
  commitsWithLastStatement: () => false,

  verifyWritable(runner: QueryRunner): void {
    const identity = identityOf(runner.connection);
    if (identity) checkIdentity(identity);
  },
};
