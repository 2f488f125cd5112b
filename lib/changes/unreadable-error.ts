import { SasyncError } from '../errors';

/**
 * The change log could not be read: waiting for a reader to catch up gave
 * up after `attempts` failed reads in a row (each after the reader's
 * backoff, the log table made again first when missing). `cause` is the
 * last read's error. The stores go on listening and resync once a read
 * succeeds; check the database (is it reachable? does `sasync_changes`
 * still have its columns?) and try again.
 */
export class ChangeLogUnreadableError extends SasyncError {
  /** Failed reads in a row before giving up. */
  readonly attempts: number;

  constructor(attempts: number, cause: unknown) {
    const why =
      cause === undefined
        ? 'its reads did not reach the log’s end'
        : `the first failure: ${cause instanceof Error ? cause.message : String(cause)}`;
    super(
      `the change log could not be read (${attempts} tries, ${why}): ` +
        'check that the database is reachable and that sasync_changes has the columns sasync made it with, then try again',
      { cause },
    );
    this.attempts = attempts;
  }
}
