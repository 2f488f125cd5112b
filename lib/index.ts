import 'reflect-metadata';
// First: a TypeORM outside the peer range is refused, naming it, before a module loads its internals.
import './dialect/typeorm/typeorm-version';

// Brokers and transactions
export { AccessBroker } from './broker/access-broker';
export type { BrokerOptions, TransactionMethod, WorkResult } from './broker/access-broker';
export { transact } from './broker/transact-decorator';
export type { TransactOptions } from './transaction/options';
export { Awaitable } from './transaction/awaitable';
export { commitWith } from './transaction/commit-with';
export type {
  CancelledEvent,
  CommittedEvent,
  OutcomeEvent,
  QueuedEvent,
  RetriedEvent,
  RolledBackEvent,
  StartedEvent,
  TransactionEvent,
  TransactionEventBase,
  WorkKind,
} from './transaction/events';
export type { Prepared } from './broker/prepared';
export type { Produced, ValueSource } from './rows/produce-rows';

// Rows
export { RowStream } from './rows/row-stream';
export type { RowHandler } from './rows/row-stream';
export type { QueryBuilderStreamOptions, StreamOptions } from './rows/stream-options';
export type { RowFormat, SinkOptions, TextFormat } from './rows/row-format';

// Persistent stores
export { Items } from './stores/items';
export { PersistentDict } from './stores/persistent-dict';
export { PersistentArray } from './stores/persistent-array';
export type { Coordinate } from './stores/coordinates';
export type { Coordinates } from './stores/persistent-array';
export { Missing } from './stores/missing';
export { devalueSerializer } from './stores/serializer';
export type { Serializer } from './stores/serializer';
export type { Change } from './stores/change';
export type { SyncView } from './stores/sync-view';
export type { ChangeLogOptions, DictOptions, ItemOptions, StoreOptions } from './stores/store-options';
export type { ResyncReason } from './changes/listener';
export type { NameType } from './stores/keys';

// Cache regions
export { CacheRegion } from './cache/cache-region';
export type { CacheFailure, CacheRegionOptions } from './cache/cache-region';
export type { CacheBackend, CacheEntry, CacheLock } from './cache/backend';
export { MemoryBackend } from './cache/memory-backend';
export { PersistentBackend } from './cache/persistent-backend';
export type { PersistentBackendOptions } from './cache/persistent-backend';
export { cacheOn, cached } from './cache/cache-on';
export type { CachedFunction, CacheOnOptions } from './cache/cache-on';
export { jsonKeyMaker, sha256KeyMangler } from './cache/keys';
export type { KeyMaker, KeyMangler } from './cache/keys';
export type { CacheTiming } from './cache/timing';

// Scheduling
export { PriorityScheduler } from './scheduler/priority-scheduler';
export type { AbortableJob, Job, ScheduleOptions } from './scheduler/priority-scheduler';
export type { PriorityOptions } from './scheduler/priority';
export { MAX_NICENESS, MIN_NICENESS } from './scheduler/priority';

// Targets and tables
export { resolveTarget } from './target';
export type { DatabaseTarget, ReplicatedTarget, ReplicaSettings, ResolvedTarget } from './target';
export type { ReplicaReadOptions, Route } from './replicas/read-options';
export { PORTABLE_TYPES } from './schema/column';
export type { ColumnSpec, PortableType } from './schema/column';
export type { IndexInfo, TableInfo, TableOptions } from './schema/table-spec';

// Migrations
export { migrationScript } from './migrations/script';
export type { ConnectionStats, IsolationLevel } from './dialect';

// Live queries
export type { LiveChange, LiveDiff, LiveOptions, LiveResult, TableRef } from './live/types';

// Bound values
export { json } from './dialect/json-parameter';
export type { JsonParameter } from './dialect/json-parameter';
export { array } from './dialect/array-parameter';
export type { ArrayParameter } from './dialect/array-parameter';

// Errors
export {
  AsyncError,
  BrokerClosedError,
  CancelledError,
  ChangeLogUnreadableError,
  ConnectionLostError,
  DatabaseError,
  InvalidIdentifierError,
  InvalidKeyError,
  InvalidParameterError,
  InvalidSpecError,
  LiveQueryError,
  MigrationError,
  MissingKeyError,
  ReadOnlyError,
  SasyncError,
  SchemaDriftError,
  SerializationError,
  TimeoutError,
  TransactionError,
  TransactIterationError,
} from './errors';
export type {
  CancelledErrorContext,
  IdentifierKind,
  LiveQueryProblem,
  SasyncErrorOptions,
  TableDifference,
  TransactionErrorContext,
} from './errors';
