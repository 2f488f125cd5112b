import { lostConnection } from '../../lib/dialect/postgres/lost-connection';

/** The errors, with no code, by which pg refuses a query on a client that is already dead. */
describe('postgres: what says a connection is lost', () => {
  it.each(['Client has encountered a connection error and is not queryable', 'Client was closed and is not queryable'])(
    'takes pg\'s "%s" for a lost connection (a stream opened on a dead client goes on from the primary)',
    (message) => {
      const error = new Error(message);
      expect(lostConnection(undefined, error)).toEqual({ error, connecting: false });
    },
  );

  it('does not take an ordinary error for one', () => {
    expect(lostConnection(undefined, new Error('relation "t" does not exist'))).toBeUndefined();
  });
});
