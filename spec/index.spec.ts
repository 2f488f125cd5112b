import * as sasync from '../lib';

describe('the public surface', () => {
  it('exports exactly these names (change on purpose, with the README)', () => {
    expect(Object.keys(sasync).sort()).toMatchInlineSnapshot(`
     [
       "AccessBroker",
       "AsyncError",
       "BrokerClosedError",
       "DatabaseError",
       "InvalidIdentifierError",
       "MAX_NICENESS",
       "MIN_NICENESS",
       "MissingKeyError",
       "PORTABLE_TYPES",
       "PriorityScheduler",
       "RowStream",
       "SasyncError",
       "SerializationError",
       "TransactIterationError",
       "TransactionError",
       "resolveTarget",
       "transact",
     ]
    `);
  });
});
