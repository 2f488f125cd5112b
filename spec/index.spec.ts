import * as sasync from '../lib';

describe('the public surface', () => {
  it('exports exactly these names (change on purpose, with the README)', () => {
    expect(Object.keys(sasync).sort()).toMatchInlineSnapshot(`
     [
       "AccessBroker",
       "AsyncError",
       "Awaitable",
       "BrokerClosedError",
       "CancelledError",
       "ConnectionLostError",
       "DatabaseError",
       "InvalidIdentifierError",
       "InvalidKeyError",
       "InvalidParameterError",
       "InvalidSpecError",
       "Items",
       "MAX_NICENESS",
       "MIN_NICENESS",
       "MigrationError",
       "Missing",
       "MissingKeyError",
       "PORTABLE_TYPES",
       "PersistentArray",
       "PersistentDict",
       "PriorityScheduler",
       "ReadOnlyError",
       "RowStream",
       "SasyncError",
       "SchemaDriftError",
       "SerializationError",
       "TimeoutError",
       "TransactIterationError",
       "TransactionError",
       "array",
       "devalueSerializer",
       "json",
       "migrationScript",
       "resolveTarget",
       "transact",
     ]
    `);
  });
});
