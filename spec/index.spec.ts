import * as sasync from '../lib';

describe('the public surface', () => {
  it('exports exactly these names (change on purpose, with the README)', () => {
    expect(Object.keys(sasync).sort()).toMatchInlineSnapshot(`
     [
       "AccessBroker",
       "AsyncError",
       "Awaitable",
       "BrokerClosedError",
       "CacheRegion",
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
       "MemoryBackend",
       "Missing",
       "MissingKeyError",
       "PORTABLE_TYPES",
       "PersistentArray",
       "PersistentDict",
       "PriorityScheduler",
       "ReadOnlyError",
       "RowStream",
       "SasyncError",
       "SerializationError",
       "TimeoutError",
       "TransactIterationError",
       "TransactionError",
       "array",
       "cacheOn",
       "cached",
       "devalueSerializer",
       "json",
       "jsonKeyMaker",
       "resolveTarget",
       "sha256KeyMangler",
       "transact",
     ]
    `);
  });
});
