import { SasyncError } from '../../lib/errors';
import { ChangeLogUnreadableError } from '../../lib/errors';

describe('ChangeLogUnreadableError', () => {
  it('names the tries and the failure, keeps it as cause, and says what to check', () => {
    const cause = new Error('column "op" does not exist');
    const error = new ChangeLogUnreadableError(6, cause);
    expect(error).toBeInstanceOf(ChangeLogUnreadableError);
    expect(error).toBeInstanceOf(SasyncError);
    expect(error.name).toBe('ChangeLogUnreadableError');
    expect(error.attempts).toBe(6);
    expect(error.cause).toBe(cause);
    expect(error.message).toMatch(/6 tries, the first failure: column "op" does not exist/);
    expect(error.message).toMatch(/check that the database is reachable/);
  });

  it('says so when no read failed but none reached the end', () => {
    expect(new ChangeLogUnreadableError(6, undefined).message).toMatch(/did not reach the log’s end/);
  });
});
